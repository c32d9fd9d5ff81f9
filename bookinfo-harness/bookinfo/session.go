package bookinfo

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// sessionCookie is the cookie productpage keeps the signed-in user in (the
// original, a Flask app, uses Flask's signed "session" cookie).
const sessionCookie = "session"

// maxUserLen bounds user names so a session cookie stays small.
const maxUserLen = 256

// sessionCodec signs and verifies productpage's session cookie value:
// "v1." + base64url(user) + "." + base64url(HMAC-SHA256(key, "v1." + base64url(user))).
// The signature is what makes the end-user header trustworthy for the route
// rules downstream: a client cannot claim to be jason without signing in.
type sessionCodec struct{ key []byte }

func newSessionCodec(key []byte) (sessionCodec, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return sessionCodec{}, fmt.Errorf("bookinfo: session key: %w", err)
		}
	}
	if len(key) < 16 {
		return sessionCodec{}, fmt.Errorf("bookinfo: session key is %d bytes; want at least 16", len(key))
	}
	return sessionCodec{key: key}, nil
}

const sessionVersion = "v1."

// b64 rejects non-canonical encodings, so one session has exactly one
// cookie value.
var b64 = base64.RawURLEncoding.Strict()

func (s sessionCodec) encode(user string) string {
	payload := sessionVersion + b64.EncodeToString([]byte(user))
	return payload + "." + b64.EncodeToString(s.mac(payload))
}

func (s sessionCodec) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

var errBadSession = errors.New("session cookie is not one this productpage signed")

// decode returns the user of a cookie value made by encode with the same key.
func (s sessionCodec) decode(v string) (string, error) {
	if len(v) > 2*maxUserLen+128 || !strings.HasPrefix(v, sessionVersion) {
		return "", errBadSession
	}
	dot := strings.LastIndexByte(v, '.')
	if dot < len(sessionVersion) {
		return "", errBadSession
	}
	payload, sig := v[:dot], v[dot+1:]
	got, err := decodeCanonical(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return "", errBadSession
	}
	user, err := decodeCanonical(payload[len(sessionVersion):])
	if err != nil {
		return "", errBadSession
	}
	if err := checkUser(string(user)); err != nil {
		return "", err
	}
	return string(user), nil
}

// decodeCanonical decodes s only if it is exactly how b64 encodes the
// result (the decoder skips line breaks, which a cookie must not carry).
func decodeCanonical(s string) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err != nil || b64.EncodedLen(len(b)) != len(s) {
		return nil, errBadSession
	}
	return b, nil
}

// checkUser rejects user names that cannot travel in an end-user header.
func checkUser(u string) error {
	switch {
	case len(u) > maxUserLen:
		return fmt.Errorf("user name is %d bytes; at most %d allowed", len(u), maxUserLen)
	case !validHeaderValue(u):
		return errors.New("user name contains a control character")
	case strings.TrimSpace(u) != u:
		return errors.New("user name starts or ends with white space")
	}
	return nil
}
