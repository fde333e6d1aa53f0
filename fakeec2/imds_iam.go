package fakeec2

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// NodeRole is the IAM role of every instance's instance profile: IMDS
// serves its temporary credentials, so the AWS CLI and SDKs inside a node
// find credentials as on an EC2 instance (fakeec2 does not check them).
const NodeRole = "enilab-node-role"

// credentialsTTL is how long IMDS's credentials are valid; EC2 rotates
// them well before they expire, as here on every read.
const credentialsTTL = 6 * time.Hour

// imdsIAM answers a path below meta-data/iam/; now is the token clock's.
func (s *Server) imdsIAM(in *instance, key string, now time.Time) (string, bool) {
	switch key {
	case "", "/":
		return "info\nsecurity-credentials/", true
	case "/info":
		return imdsJSON(map[string]string{
			"Code": "Success", "LastUpdated": now.UTC().Format(time.RFC3339),
			"InstanceProfileArn": "arn:aws:iam::" + s.cfg.AccountID + ":instance-profile/" + NodeRole,
			"InstanceProfileId":  "AIPA" + strings.ToUpper(idHash(in.id, "profile")[:17]),
		}), true
	case "/security-credentials", "/security-credentials/":
		return NodeRole, true
	case "/security-credentials/" + NodeRole:
		return imdsJSON(map[string]string{
			"Code": "Success", "LastUpdated": now.UTC().Format(time.RFC3339), "Type": "AWS-HMAC",
			"AccessKeyId":     "ASIA" + strings.ToUpper(idHash(in.id, "key")[:16]),
			"SecretAccessKey": idHash(in.id, "secret")[:40],
			"Token":           idHash(in.id, "token"),
			"Expiration":      now.Add(credentialsTTL).UTC().Format(time.RFC3339),
		}), true
	}
	return "", false
}

// idHash is a stable hex string for an instance and a purpose.
func idHash(id, purpose string) string {
	sum := sha256.Sum256([]byte(purpose + "/" + id))
	return hex.EncodeToString(sum[:])
}

func imdsJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
