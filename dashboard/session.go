package dashboard

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/throttle"
)

// A session is a cookie the server seals with AES-256-GCM under a key of
// its Secret: the app's id, the session's expiry and the SHA-256 of the
// key signed in with. The browser holds neither the key nor its hash in
// the clear, and cannot forge or alter a session. Each request opens it
// and looks the hash up as the API looks a key up (AppByKeyHash), so a
// key rotated or revoked ends its sessions at once, and the expiry ends
// any session however it is kept. Nothing of a session is kept on the
// server: processes that share a Secret share the sessions.
const (
	sessionCookie = "bulkid_session"
	csrfCookie    = "bulkid_csrf"
	sessionAAD    = "bulkid dashboard session v1"
	sessionLen    = 8 + 8 + sha256.Size // app id, expiry (Unix seconds), key hash
)

type keys struct {
	session cipher.AEAD
	csrf    []byte
}

// deriveKeys makes the session key and the CSRF key from secret, each
// its own HMAC of secret, so that neither gives the other.
func deriveKeys(secret []byte) keys {
	sub := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(sub("bulkid dashboard session key"))
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return keys{session: aead, csrf: sub("bulkid dashboard csrf key")}
}

// seal makes a session cookie's value.
func (k keys) seal(appID int64, expires time.Time, keyHash []byte) string {
	plain := make([]byte, 0, sessionLen)
	plain = binary.BigEndian.AppendUint64(plain, uint64(appID))
	plain = binary.BigEndian.AppendUint64(plain, uint64(expires.Unix()))
	plain = append(plain, keyHash...)
	nonce := make([]byte, k.session.NonceSize(), k.session.NonceSize()+len(plain)+k.session.Overhead())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(k.session.Seal(nonce, nonce, plain, []byte(sessionAAD)))
}

// open reads a session cookie's value; ok is false if it is not one this
// Secret sealed.
func (k keys) open(value string) (appID int64, expires time.Time, keyHash []byte, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(value)
	n := k.session.NonceSize()
	if err != nil || len(b) < n {
		return 0, time.Time{}, nil, false
	}
	plain, err := k.session.Open(nil, b[:n], b[n:], []byte(sessionAAD))
	if err != nil || len(plain) != sessionLen {
		return 0, time.Time{}, nil, false
	}
	appID = int64(binary.BigEndian.Uint64(plain))
	expires = time.Unix(int64(binary.BigEndian.Uint64(plain[8:])), 0)
	return appID, expires, plain[16:], true
}

// csrfToken is the token forms carry for the CSRF cookie's value: its
// HMAC, which a page of another site can neither read nor make.
func (k keys) csrfToken(cookie string) string {
	m := hmac.New(sha256.New, k.csrf)
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// session is a signed-in request's app and its forms' CSRF token.
type session struct {
	app  *bulkid.App
	csrf string
}

func (h *handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: h.secure || r.TLS != nil, MaxAge: int(maxAge / time.Second)}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// ensureCSRF returns the CSRF token of the request's CSRF cookie, setting
// a new cookie first if it has none.
func (h *handler) ensureCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 22 {
		return h.keys.csrfToken(c.Value)
	}
	return h.newCSRF(w, r)
}

func (h *handler) newCSRF(w http.ResponseWriter, r *http.Request) string {
	value := base64.RawURLEncoding.EncodeToString(randomBytes(16))
	h.setCookie(w, r, csrfCookie, value, 0) // for the browser's session
	return h.keys.csrfToken(value)
}

// checkCSRF reports whether the form's csrf field is the token of the
// request's CSRF cookie.
func (h *handler) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return false
	}
	want := h.keys.csrfToken(c.Value)
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(want)) == 1
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// current returns the request's session, or nil if it has none that is
// valid now; code is why (for the sign-in page's message): "" for no
// cookie, "expired", or "ended" for a key no longer any app's.
func (h *handler) current(w http.ResponseWriter, r *http.Request) (s *session, code string, err error) {
	c, cerr := r.Cookie(sessionCookie)
	if cerr != nil {
		return nil, "", nil
	}
	appID, expires, hash, ok := h.keys.open(c.Value)
	if !ok {
		return nil, "ended", nil // another process's secret, or an older one
	}
	if !h.now().Before(expires) {
		return nil, "expired", nil
	}
	app, err := h.store.AppByKeyHash(r.Context(), hash)
	if bulkid.ErrorCode(err) == bulkid.ENOTFOUND || err == nil && app.ID != appID {
		return nil, "ended", nil
	}
	if err != nil {
		return nil, "", err
	}
	return &session{app: app, csrf: h.ensureCSRF(w, r)}, "", nil
}

// signedIn serves fn to a request with a valid session, and sends any
// other to the sign-in page.
func (h *handler) signedIn(fn func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, code, err := h.current(w, r)
		if err != nil {
			h.storeError(w, r, nil, err, "")
			return
		}
		if s == nil {
			if code != "" {
				h.setCookie(w, r, sessionCookie, "", -1)
			}
			to := Prefix + "signin"
			if code != "" {
				to += "?session=" + code
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		fn(w, r, s)
	})
}

// signedInJSON is signedIn for the live endpoint: a request without a
// session is answered 401 in the API's error shape, not redirected.
func (h *handler) signedInJSON(fn func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _, err := h.current(w, r)
		if err == nil && s == nil {
			err = bulkid.Errorf(bulkid.EUNAUTHORIZED, "Sign in to the dashboard first.")
		}
		if err != nil {
			writeErrorJSON(w, err)
			return
		}
		fn(w, r, s)
	})
}

type signInPage struct {
	Message string
}

var sessionMessages = map[string]string{
	"expired": "Your session expired. Sign in again.",
	"ended":   "Your session ended (the key was changed, or the server restarted). Sign in again.",
}

func (h *handler) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	v := &view{Title: "Sign in", CSRF: h.ensureCSRF(w, r), Data: signInPage{Message: sessionMessages[r.URL.Query().Get("session")]}}
	h.render(w, r, http.StatusOK, "signin.html", v)
}

// maxFormBytes bounds a form's body: a key and a token.
const maxFormBytes = 16 << 10

func (h *handler) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	signInAgain := func(status int, msg string) {
		v := &view{Title: "Sign in", CSRF: h.ensureCSRF(w, r), Data: signInPage{Message: msg}}
		h.render(w, r, status, "signin.html", v)
	}
	if !h.checkCSRF(r) {
		h.newCSRF(w, r)
		signInAgain(http.StatusForbidden, "The form had expired. Sign in again.")
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	if key == "" {
		signInAgain(http.StatusBadRequest, "Enter an app's API key.")
		return
	}
	if region := bulkid.KeyRegion(key); h.region != "" && region != "" && region != h.region {
		// As the API's 421: told by the key alone, this server holds none
		// of that region's data.
		msg := fmt.Sprintf("That is the API key of an app of region %s, whose data this server (region %s) does not hold: sign in at that region's dashboard.", region, h.region)
		if url := h.urls[region]; url != "" {
			msg = fmt.Sprintf("That is the API key of an app of region %s, whose data this server (region %s) does not hold: sign in at %s%s.", region, h.region, url, Prefix)
		}
		signInAgain(http.StatusMisdirectedRequest, msg)
		return
	}
	addr, hash, known := throttle.ClientAddr(r), bulkid.HashAPIKey(key), false
	if h.fails != nil {
		var ok bool
		var wait time.Duration
		if ok, known, wait = h.fails.Admit(addr, hash, h.now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
			signInAgain(http.StatusTooManyRequests, "Too many failed sign-ins from your address. Wait a little, then try again.")
			return
		}
	}
	app, err := h.store.AppByKeyHash(r.Context(), hash)
	if err != nil {
		if bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
			if h.fails != nil {
				h.fails.Done(addr, hash, known, throttle.Unknown, h.now()) // the key was not judged
			}
			h.storeError(w, r, nil, err, "")
			return
		}
		if h.fails != nil {
			h.fails.Done(addr, hash, known, throttle.Failed, h.now())
		}
		signInAgain(http.StatusUnauthorized, "That is not the API key of any app.")
		return
	}
	if h.fails != nil {
		h.fails.Done(addr, hash, known, throttle.Worked, h.now())
	}
	h.setCookie(w, r, sessionCookie, h.keys.seal(app.ID, h.now().Add(h.ttl), hash), h.ttl)
	h.newCSRF(w, r) // a new session, a new token
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (h *handler) handleSignOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || !h.checkCSRF(r) {
		h.renderError(w, r, nil, http.StatusForbidden, "The sign-out form had expired; reload the page and sign out again.")
		return
	}
	h.setCookie(w, r, sessionCookie, "", -1)
	h.newCSRF(w, r)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}
