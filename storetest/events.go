package storetest

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

// track stores an event received now, failing the test on an error.
func (e *env) track(app *bulkid.App, userID, name, metadata string) *bulkid.Event {
	e.t.Helper()
	ev := &bulkid.Event{UserID: userID, Name: name, ReceivedAt: e.clock.Now()}
	if metadata != "" {
		ev.Metadata = []byte(metadata)
	}
	e.must(fmt.Sprintf("Track(%q, %q)", userID, name), e.s.Track(e.ctx, app.ID, ev))
	return ev
}

func seqCursor(ev *bulkid.Event) string { return strconv.FormatInt(ev.Seq, 10) }

// allEvents lists every event of a user named name ("" for all), limit at
// a time.
func (e *env) allEvents(app *bulkid.App, userID, name string, limit int) []*bulkid.Event {
	e.t.Helper()
	return pages(e.t, fmt.Sprintf("UserEvents(%q, %q)", userID, name), limit, func(p bulkid.Page) ([]*bulkid.Event, error) {
		return e.s.UserEvents(e.ctx, app.ID, userID, name, p)
	}, seqCursor)
}

func eventSeqs(evs []*bulkid.Event) []int64 {
	seqs := make([]int64, len(evs))
	for i, ev := range evs {
		seqs[i] = ev.Seq
	}
	return seqs
}

// testTrack: an event creates its unknown user with empty metadata, and
// leaves a known user as it is; it reads back as stored.
func testTrack(t *testing.T, e *env) {
	app := e.createApp("a")
	sent := start.Add(-time.Hour)
	ev := &bulkid.Event{UserID: "new-user", Name: "Signed Up", Metadata: []byte(`{"plan":"pro","seats":3,"trial":true,"ref":null}`),
		ReceivedAt: e.clock.Now(), SentAt: sent}
	e.must("Track", e.s.Track(e.ctx, app.ID, ev))
	if ev.Seq == 0 {
		t.Errorf("Track set no Seq")
	}
	u := e.user(app, "new-user")
	wantMetadata(t, "the user an event created", u.Metadata, `{}`)
	wantTime(t, "its CreatedAt", u.CreatedAt, start)
	wantTime(t, "its UpdatedAt", u.UpdatedAt, start)
	if u.CompanyID != "" {
		t.Errorf("the user an event created has the company %q", u.CompanyID)
	}

	e.must("Identify", e.s.Identify(e.ctx, app.ID, nil, e.records(bulkid.JobUsers, `{"user_id":"known","metadata":{"name":"Ann"}}`)))
	e.clock.Advance(time.Minute)
	e.track(app, "known", "Clicked", `{"name":"not the user's"}`)
	k := e.user(app, "known")
	wantMetadata(t, "a known user's", k.Metadata, `{"name":"Ann"}`)
	wantTime(t, "a known user's UpdatedAt after an event", k.UpdatedAt, start)
	// The user an event created is an ordinary user: identify merges into it.
	e.must("Identify", e.s.Identify(e.ctx, app.ID, nil, e.records(bulkid.JobUsers, `{"user_id":"new-user","metadata":{"email":"a@b.c"}}`)))
	wantMetadata(t, "the user an event created, identified", e.user(app, "new-user").Metadata, `{"email":"a@b.c"}`)

	evs, err := e.s.UserEvents(e.ctx, app.ID, "new-user", "", bulkid.Page{Limit: 10})
	e.must("UserEvents", err)
	if len(evs) != 1 {
		t.Fatalf("UserEvents(new-user) = %d events, want 1", len(evs))
	}
	got := evs[0]
	if got.Seq != ev.Seq || got.UserID != "new-user" || got.Name != "Signed Up" {
		t.Errorf("UserEvents(new-user) = {Seq %d, %q, %q}, want {Seq %d, new-user, Signed Up}", got.Seq, got.UserID, got.Name, ev.Seq)
	}
	wantMetadata(t, "the event's", got.Metadata, `{"plan":"pro","seats":3,"trial":true,"ref":null}`)
	wantTime(t, "its ReceivedAt", got.ReceivedAt, start)
	wantTime(t, "its SentAt", got.SentAt, sent)

	// No metadata and no client time read back as {} and the zero time.
	evs, err = e.s.UserEvents(e.ctx, app.ID, "known", "", bulkid.Page{Limit: 10})
	e.must("UserEvents", err)
	e.track(app, "bare", "Bare", "")
	bare, err := e.s.UserEvents(e.ctx, app.ID, "bare", "", bulkid.Page{Limit: 10})
	e.must("UserEvents", err)
	if len(evs) != 1 || len(bare) != 1 {
		t.Fatalf("UserEvents: %d events of known, %d of bare; want 1 each", len(evs), len(bare))
	}
	wantTime(t, "the known user's event's ReceivedAt", evs[0].ReceivedAt, start.Add(time.Minute))
	wantMetadata(t, "an event sent without metadata", bare[0].Metadata, `{}`)
	if !bare[0].SentAt.IsZero() {
		t.Errorf("an event sent without a timestamp has SentAt %v", bare[0].SentAt)
	}
	// Times are kept to the millisecond, in both stores alike.
	fine := &bulkid.Event{UserID: "bare", Name: "Fine", ReceivedAt: start.Add(1234567 * time.Nanosecond), SentAt: start.Add(7654321 * time.Nanosecond)}
	e.must("Track", e.s.Track(e.ctx, app.ID, fine))
	wantTime(t, "Track's ReceivedAt in ev", fine.ReceivedAt, start.Add(time.Millisecond))
	evs, err = e.s.UserEvents(e.ctx, app.ID, "bare", "Fine", bulkid.Page{Limit: 10})
	e.must("UserEvents", err)
	if len(evs) != 1 {
		t.Fatalf("UserEvents(bare, Fine) = %d events, want 1", len(evs))
	}
	wantTime(t, "a sub-millisecond ReceivedAt", evs[0].ReceivedAt, start.Add(time.Millisecond))
	wantTime(t, "a sub-millisecond SentAt", evs[0].SentAt, start.Add(7*time.Millisecond))
}

// testUserEvents: a user's events list newest first, page after page with
// no gap and no duplicate, filtered by name, and never another user's.
func testUserEvents(t *testing.T, e *env) {
	app := e.createApp("a")
	var mine, named []int64
	for i := range 23 {
		name := []string{"view", "click", "View"}[i%3]
		ev := e.track(app, "u", name, fmt.Sprintf(`{"i":%d}`, i))
		mine = append(mine, ev.Seq)
		if name == "view" {
			named = append(named, ev.Seq)
		}
		e.track(app, "other", name, "")
		e.track(app, "", name, "")
		e.clock.Advance(time.Second)
	}
	slices.Reverse(mine)
	slices.Reverse(named)
	for _, limit := range []int{1, 5, 23, 100} {
		evs := e.allEvents(app, "u", "", limit)
		if got := eventSeqs(evs); !slices.Equal(got, mine) {
			t.Errorf("UserEvents(u) by %d: Seqs %v, want %v", limit, got, mine)
		}
		for _, ev := range evs {
			if ev.UserID != "u" {
				t.Errorf("UserEvents(u) listed an event of %q", ev.UserID)
			}
		}
		if got := eventSeqs(e.allEvents(app, "u", "view", limit)); !slices.Equal(got, named) {
			t.Errorf("UserEvents(u, view) by %d: Seqs %v, want %v (names match exactly)", limit, got, named)
		}
	}
	evs, err := e.s.UserEvents(e.ctx, app.ID, "u", "", bulkid.Page{Limit: 2})
	e.must("UserEvents", err)
	wantMetadata(t, "the newest event's", evs[0].Metadata, `{"i":22}`)
	if !evs[0].ReceivedAt.After(evs[1].ReceivedAt) {
		t.Errorf("newest first: ReceivedAt %v then %v", evs[0].ReceivedAt, evs[1].ReceivedAt)
	}
	// New events after a cursor do not move the pages behind it.
	first, err := e.s.UserEvents(e.ctx, app.ID, "u", "", bulkid.Page{Limit: 5})
	e.must("UserEvents", err)
	e.track(app, "u", "view", "")
	next, err := e.s.UserEvents(e.ctx, app.ID, "u", "", bulkid.Page{Limit: 5, After: seqCursor(first[4])})
	e.must("UserEvents", err)
	if got := eventSeqs(next); !slices.Equal(got, mine[5:10]) {
		t.Errorf("the second page after a new event: Seqs %v, want %v", got, mine[5:10])
	}
	none, err := e.s.UserEvents(e.ctx, app.ID, "u", "no such event", bulkid.Page{Limit: 5})
	e.must("UserEvents", err)
	if len(none) != 0 {
		t.Errorf("UserEvents(u, no such event) = %d events", len(none))
	}
	// A user with no events has an empty list; the cursor may be any Seq.
	e.must("Identify", e.s.Identify(e.ctx, app.ID, nil, e.records(bulkid.JobUsers, `{"user_id":"quiet"}`)))
	for _, after := range []string{"", "0", "1", "9223372036854775807"} {
		evs, err := e.s.UserEvents(e.ctx, app.ID, "quiet", "", bulkid.Page{Limit: 5, After: after})
		e.must("UserEvents(quiet)", err)
		if len(evs) != 0 {
			t.Errorf("UserEvents(quiet, after %q) = %d events", after, len(evs))
		}
	}

	_, err = e.s.UserEvents(e.ctx, app.ID, "nobody", "", bulkid.Page{Limit: 5})
	wantCode(t, "UserEvents of an unknown user", err, bulkid.ENOTFOUND)
	_, err = e.s.UserEvents(e.ctx, app.ID, "", "", bulkid.Page{Limit: 5})
	wantCode(t, "UserEvents of the user \"\" (the events of no user)", err, bulkid.ENOTFOUND)
	for _, bad := range []string{"x", "-1", "+1", " 1", "1.0", "01", "9223372036854775808", "3cd1a326-812c-432c-bbf2-e5dba4477e31"} {
		_, err = e.s.UserEvents(e.ctx, app.ID, "u", "", bulkid.Page{Limit: 5, After: bad})
		wantCode(t, fmt.Sprintf("UserEvents after the cursor %q", bad), err, bulkid.EINVALID)
	}
}

// testEventTotals: the app's counts by name, in byte order of the names,
// with the newest received_at of each; events of no user count.
func testEventTotals(t *testing.T, e *env) {
	app := e.createApp("a")
	got, err := e.s.EventTotals(e.ctx, app.ID)
	e.must("EventTotals", err)
	if got == nil || len(got) != 0 {
		t.Errorf("EventTotals of an app with no events = %#v, want an empty list", got)
	}
	e.track(app, "u1", "view", "")
	e.clock.Advance(time.Second)
	e.track(app, "", "view", "") // no user
	e.track(app, "u2", "Buy", "")
	e.clock.Advance(time.Second)
	e.track(app, "", "anonymous only", "")
	// A late event (an older ReceivedAt, as another process's clock may
	// give) does not move last_at back.
	late := &bulkid.Event{UserID: "u1", Name: "view", ReceivedAt: start}
	e.must("Track", e.s.Track(e.ctx, app.ID, late))

	got, err = e.s.EventTotals(e.ctx, app.ID)
	e.must("EventTotals", err)
	want := []bulkid.EventTotal{
		{Name: "Buy", Count: 1, LastAt: start.Add(time.Second)},
		{Name: "anonymous only", Count: 1, LastAt: start.Add(2 * time.Second)},
		{Name: "view", Count: 3, LastAt: start.Add(time.Second)},
	}
	if len(got) != len(want) {
		t.Fatalf("EventTotals = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Count != want[i].Count || !got[i].LastAt.Equal(want[i].LastAt) {
			t.Errorf("EventTotals[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	// An event of no user creates no user and is listed for none.
	_, err = e.s.User(e.ctx, app.ID, "")
	wantCode(t, "User(\"\") after events of no user", err, bulkid.ENOTFOUND)
	for _, u := range []string{"u1", "u2"} {
		for _, ev := range e.allEvents(app, u, "", 10) {
			if ev.UserID != u {
				t.Errorf("UserEvents(%s) listed an event of %q", u, ev.UserID)
			}
		}
	}
	if n := len(e.allEvents(app, "u1", "", 10)); n != 2 {
		t.Errorf("UserEvents(u1) = %d events, want 2", n)
	}
}

// testEventTenancy: another app sees none of an app's events, totals or
// the users its events created, and its own events do not mix in.
func testEventTenancy(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	e.track(a, "shared", "view", "")
	e.track(a, "only-a", "view", "")
	e.track(a, "", "view", "")
	_, err := e.s.User(e.ctx, b.ID, "only-a")
	wantCode(t, "User of a user another app's event created", err, bulkid.ENOTFOUND)
	_, err = e.s.UserEvents(e.ctx, b.ID, "only-a", "", bulkid.Page{Limit: 10})
	wantCode(t, "UserEvents of another app's user", err, bulkid.ENOTFOUND)
	totals, err := e.s.EventTotals(e.ctx, b.ID)
	e.must("EventTotals", err)
	if len(totals) != 0 {
		t.Errorf("EventTotals(b) = %+v, want none", totals)
	}

	e.track(b, "shared", "buy", `{"app":"b"}`)
	evs := e.allEvents(b, "shared", "", 10)
	if len(evs) != 1 || evs[0].Name != "buy" {
		t.Errorf("UserEvents(b, shared) = %d events, want b's one", len(evs))
	}
	if evs := e.allEvents(a, "shared", "", 10); len(evs) != 1 || evs[0].Name != "view" {
		t.Errorf("UserEvents(a, shared) = %d events, want a's one", len(evs))
	}
	totals, err = e.s.EventTotals(e.ctx, a.ID)
	e.must("EventTotals", err)
	if len(totals) != 1 || totals[0].Name != "view" || totals[0].Count != 3 {
		t.Errorf("EventTotals(a) = %+v, want view: 3", totals)
	}
}

// testTrackConcurrent: many callers track events of the same few users,
// new and known, and of no user, while others identify those users into
// companies. No call may fail (on PostgreSQL, none may deadlock or give
// up on a lock), every event is stored once, each new user is created
// once, and identify's metadata and companies are not touched by events.
func testTrackConcurrent(t *testing.T, e *env) {
	app := e.createApp("a")
	const (
		trackers = 8
		perCall  = 25
		users    = 4
	)
	var wg sync.WaitGroup
	errs := make(chan error, trackers*perCall+users*perCall)
	for g := range trackers {
		wg.Go(func() {
			for i := range perCall {
				user := fmt.Sprintf("u%d", (g+i)%(users+1)) // u4 is never identified
				if i%5 == 0 {
					user = ""
				}
				ev := &bulkid.Event{UserID: user, Name: fmt.Sprintf("e%d", i%3), ReceivedAt: e.clock.Now()}
				if err := e.s.Track(e.ctx, app.ID, ev); err != nil {
					errs <- fmt.Errorf("Track(%q): %w", user, err)
				}
			}
		})
	}
	for u := range users {
		wg.Go(func() {
			for i := range perCall {
				rec := e.records(bulkid.JobUsers, fmt.Sprintf(`{"user_id":"u%d","company_id":"c%d","metadata":{"n":%d}}`, u, i%2, i))
				if err := e.s.Identify(e.ctx, app.ID, nil, rec); err != nil {
					errs <- fmt.Errorf("Identify(u%d): %w", u, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total, anonymous := int64(trackers*perCall), int64(trackers*((perCall+4)/5))
	totals, err := e.s.EventTotals(e.ctx, app.ID)
	e.must("EventTotals", err)
	var sum int64
	for _, tt := range totals {
		sum += tt.Count
	}
	if sum != total || len(totals) != 3 {
		t.Errorf("EventTotals = %+v: %d events in all, want %d over 3 names", totals, sum, total)
	}
	var listed int64
	for u := range users + 1 {
		id := fmt.Sprintf("u%d", u)
		listed += int64(len(e.allEvents(app, id, "", 100)))
		usr := e.user(app, id)
		if u < users {
			wantMetadata(t, id+"'s", usr.Metadata, fmt.Sprintf(`{"n":%d}`, perCall-1))
			if want := fmt.Sprintf("c%d", (perCall-1)%2); usr.CompanyID != want {
				t.Errorf("%s's company = %q, want %q, identify's last", id, usr.CompanyID, want)
			}
		} else {
			wantMetadata(t, id+"'s, created by events", usr.Metadata, `{}`)
		}
	}
	if listed != total-anonymous {
		t.Errorf("the users list %d events, want %d (all but the %d of no user)", listed, total-anonymous, anonymous)
	}
	// Every user's last identify named c0 ((perCall-1)%2).
	wantCount(t, e.company(app, "c0"), users, true)
	wantCount(t, e.company(app, "c1"), 0, false)
}
