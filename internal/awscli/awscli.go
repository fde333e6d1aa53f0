// Package awscli finds the AWS CLI v2 that tests drive against fakeec2:
// $ENILAB_AWS_CLI, else Debian's /usr/bin/aws (not the first `aws` on
// PATH: a pyenv shim of the v1 CLI may come first).
package awscli

import "os"

// Missing is the reason a test gives when it skips for want of the CLI.
const Missing = "AWS CLI v2 not installed (set ENILAB_AWS_CLI or install /usr/bin/aws, e.g. Debian's awscli)"

// Path returns the CLI's path, or "" when there is none.
func Path() string {
	if p := os.Getenv("ENILAB_AWS_CLI"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		return "/usr/bin/aws"
	}
	return ""
}
