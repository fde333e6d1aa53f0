// Command minimal is the exec floor of the plugin benchmarks: a Go program
// that answers the CNI VERSION command and links nothing else.
package main

import "os"

func main() {
	_, _ = os.Stdout.WriteString(`{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}`)
}
