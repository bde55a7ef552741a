package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bulkid/bulkid"
)

// handleTrack stores one event at once: {"user_id": "...", "event_name":
// "...", "metadata": {...}, "timestamp": "..."}. An unknown user_id
// creates the user, with empty metadata, as the hosted service does; a
// missing or null user_id stores an event of no user (Segment sends one
// so for an anonymous visitor), counted in the totals.
func (s *server) handleTrack(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	body, _, err := s.readIdentify(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rec, rerr := bulkid.ValidateEvent(body)
	if rerr != nil {
		s.writeError(w, r, &bulkid.Error{Code: bulkid.EINVALIDRECORD, Message: rerr.Message, Details: rerr.Code})
		return
	}
	ev := &bulkid.Event{UserID: rec.UserID, Name: rec.Name, Metadata: rec.Metadata, ReceivedAt: s.now(), SentAt: rec.SentAt}
	if err := s.store.Track(r.Context(), app.ID, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
}

// eventJSON is an event as the listing shows it.
type eventJSON struct {
	EventName  string          `json:"event_name"`
	UserID     *string         `json:"user_id"` // null for an event of no user
	Metadata   json.RawMessage `json:"metadata"`
	ReceivedAt string          `json:"received_at"`
	Timestamp  *string         `json:"timestamp"` // null if the client sent none
}

// handleUserEvents lists a user's events, newest first:
// ?event_name= keeps those of one name, ?limit= and ?cursor= page as the
// other listings do (the cursor is opaque: the Link header's).
func (s *server) handleUserEvents(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	page, err := pageOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	name := r.URL.Query().Get("event_name")
	if !bulkid.Storable(name) {
		s.writeError(w, r, bulkid.Errorf(bulkid.EINVALID, "event_name must be valid UTF-8 without U+0000, as every event name is."))
		return
	}
	userID := pathValue(r, "user_id")
	if !bulkid.Storable(userID) {
		// No record can have had such an id: not found, without a query.
		s.writeError(w, r, notFound(bulkid.Errorf(bulkid.ENOTFOUND, "no such id"), "user", userID))
		return
	}
	evs, err := s.store.UserEvents(r.Context(), app.ID, userID, name, page)
	if err != nil {
		s.writeError(w, r, notFound(err, "user", userID))
		return
	}
	out := make([]eventJSON, 0, len(evs))
	for _, ev := range evs {
		e := eventJSON{EventName: ev.Name, Metadata: ev.Metadata, ReceivedAt: timeString(ev.ReceivedAt), Timestamp: optTime(ev.SentAt)}
		if ev.UserID != "" {
			e.UserID = &ev.UserID
		}
		out = append(out, e)
	}
	if len(evs) == page.Limit {
		// The link names the user escaped, as a client sends it: the
		// request's path is unescaped ("a/b" for a%2Fb), or withPaths' stand-in.
		q := r.URL.Query()
		q.Set("limit", strconv.Itoa(page.Limit))
		q.Set("cursor", strconv.FormatInt(evs[len(evs)-1].Seq, 10))
		w.Header().Set("Link", "</v1/users/"+escapeID(userID)+"/events?"+q.Encode()+`>; rel="next"`)
	}
	writeJSON(w, http.StatusOK, out)
}

// escapeID escapes id as one path segment, "." and ".." too, which a
// client resolving a link would otherwise take for dot segments.
func escapeID(id string) string {
	if id == "." || id == ".." {
		return strings.Repeat("%2E", len(id))
	}
	return url.PathEscape(id)
}

type eventTotalJSON struct {
	EventName      string `json:"event_name"`
	Count          int64  `json:"count"`
	LastReceivedAt string `json:"last_received_at"`
}

// handleEventTotals answers the app's event counts by name, ordered by
// name, and their sum: {"total": N, "events": [...]}.
func (s *server) handleEventTotals(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	totals, err := s.store.EventTotals(r.Context(), app.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Total  int64            `json:"total"`
		Events []eventTotalJSON `json:"events"`
	}{Events: make([]eventTotalJSON, 0, len(totals))}
	for _, t := range totals {
		out.Total += t.Count
		out.Events = append(out.Events, eventTotalJSON{EventName: t.Name, Count: t.Count, LastReceivedAt: timeString(t.LastAt)})
	}
	writeJSON(w, http.StatusOK, out)
}
