package fakeec2

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
)

// IMDSv2 tokens carry their own expiry and the instance they were issued
// by, signed with the server's key: nothing is stored, so no number of
// tokens evicts a live one, and a token is good only on its own instance,
// as on EC2.

const tokenPrefix = "AQAE"

// tokenKey is the server's signing key, derived from the seed so a run
// replays the same tokens.
func tokenKey(seed int64) []byte {
	sum := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("enilab imds token "), uint64(seed)))
	return sum[:]
}

// mintToken returns a token of instanceID valid until exp.
func (s *Server) mintToken(instanceID string, exp time.Time) string {
	stamp := binary.BigEndian.AppendUint64(nil, uint64(exp.UnixNano()))
	return tokenPrefix + hex.EncodeToString(stamp) + hex.EncodeToString(s.tokenMAC(instanceID, stamp))
}

// tokenValid reports whether tok is a token of instanceID not expired at
// now.
func (s *Server) tokenValid(instanceID, tok string, now time.Time) bool {
	raw, err := hex.DecodeString(strings.TrimPrefix(tok, tokenPrefix))
	if err != nil || !strings.HasPrefix(tok, tokenPrefix) || len(raw) != 8+16 {
		return false
	}
	stamp, mac := raw[:8], raw[8:]
	if !hmac.Equal(mac, s.tokenMAC(instanceID, stamp)) {
		return false
	}
	return now.Before(time.Unix(0, int64(binary.BigEndian.Uint64(stamp))))
}

func (s *Server) tokenMAC(instanceID string, stamp []byte) []byte {
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(instanceID))
	m.Write([]byte{0})
	m.Write(stamp)
	return m.Sum(nil)[:16]
}
