package chaos_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/fakeec2/chaos"
)

// A standalone fake EC2 with AWS throttling, a fault file, a trace on
// stdout and the admin API beside the EC2 API.
func Example() {
	rules, err := chaos.LoadFaults(strings.NewReader(`
- name: assign-flaky
  kind: internal
  operations: [AssignPrivateIpAddresses]
  percentage: 30
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctrl, err := chaos.New(chaos.Config{Seed: 42, Throttle: chaos.ThrottleAWS, Faults: rules, Trace: os.Stdout})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := fakeec2.New(fakeec2.Config{Interceptor: ctrl})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("/admin/", ctrl.AdminHandler())
	mux.Handle("/", srv)
	_ = mux // http.ListenAndServe("127.0.0.1:8080", mux)
	fmt.Println(ctrl.Rules()[0].Name)
	// Output: assign-flaky
}
