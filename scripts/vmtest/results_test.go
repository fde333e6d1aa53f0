package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goTestOutput = `=== RUN   TestA
--- PASS: TestA (0.01s)
=== RUN   TestB
    b_test.go:12: got 1, want 2
--- FAIL: TestB (0.02s)
=== RUN   TestC
    c_test.go:5: needs root: creates namespaces
--- SKIP: TestC (0.00s)
=== RUN   TestD
=== RUN   TestD/sub_ok
=== RUN   TestD/sub_bad
    d_test.go:9: sub failed
--- FAIL: TestD (0.03s)
    --- PASS: TestD/sub_ok (0.00s)
    --- FAIL: TestD/sub_bad (0.01s)
FAIL
`

func parseSuite(t *testing.T, doc []byte) junitSuite {
	t.Helper()
	var d junitSuites
	require.NoError(t, xml.Unmarshal(doc, &d), string(doc))
	require.Len(t, d.Suites, 1)
	return d.Suites[0]
}

func caseByName(s junitSuite, name string) *junitCase {
	for i := range s.Cases {
		if s.Cases[i].Name == name {
			return &s.Cases[i]
		}
	}
	return nil
}

func TestGoTestJUnit(t *testing.T) {
	doc, _ := GoTestJUnit("pkg [dummy]", []byte(goTestOutput), 1)
	s := parseSuite(t, doc)
	assert.Equal(t, "pkg [dummy]", s.Name)
	assert.Equal(t, 6, s.Tests)
	assert.Equal(t, 3, s.Failures, "TestB, TestD and TestD/sub_bad")
	assert.Equal(t, 1, s.Skipped)
	assert.Nil(t, caseByName(s, "TestA").Failure)
	require.NotNil(t, caseByName(s, "TestB").Failure)
	assert.Contains(t, caseByName(s, "TestB").Failure.Body, "got 1, want 2")
	require.NotNil(t, caseByName(s, "TestC").Skipped)
	assert.Equal(t, "needs root: creates namespaces", caseByName(s, "TestC").Skipped.Message)
	require.NotNil(t, caseByName(s, "TestD/sub_bad").Failure)
	assert.Contains(t, caseByName(s, "TestD/sub_bad").Failure.Body, "sub failed")
	assert.Nil(t, caseByName(s, "TestD/sub_ok").Failure)
	assert.Equal(t, "0.060", s.Time, "top-level tests only")
	for _, c := range s.Cases {
		if c.Failure != nil {
			assert.NotContains(t, c.Failure.Body, "FAIL\n", "the binary's closing line belongs to no test")
		}
	}
}

func TestGoTestJUnitUnfinishedTestFails(t *testing.T) {
	out := "=== RUN   TestOK\n--- PASS: TestOK (0.00s)\n=== RUN   TestBoom\npanic: boom\n\ngoroutine 1 [running]:\n"
	doc, s := GoTestJUnit("pkg", []byte(out), 2)
	assert.Equal(t, 1, s.Failures)
	c := caseByName(parseSuite(t, doc), "TestBoom")
	require.NotNil(t, c.Failure)
	assert.Contains(t, c.Failure.Message, "did not finish")
	assert.Contains(t, c.Failure.Body, "panic: boom")
}

func TestGoTestJUnitNonZeroExitWithoutFailedTestFails(t *testing.T) {
	out := "=== RUN   TestOK\n--- PASS: TestOK (0.00s)\nPASS\nleak check: namespace enl123-node-1 left behind\n"
	_, s := GoTestJUnit("pkg", []byte(out), 1)
	assert.Equal(t, 1, s.Failures, "a leak check in TestMain must fail the JUnit too")
	assert.Contains(t, s.Cases[len(s.Cases)-1].Failure.Body, "left behind")

	_, s = GoTestJUnit("pkg", []byte("PASS\n"), 0)
	assert.Zero(t, s.Failures)
	assert.Zero(t, s.Tests)
}

func TestGoTestJUnitDropsControlCharacters(t *testing.T) {
	doc, _ := GoTestJUnit("pkg", []byte("=== RUN   TestX\n\x1b[31mred\x1b[0m\x00\n--- FAIL: TestX (0.00s)\n"), 1)
	c := caseByName(parseSuite(t, doc), "TestX")
	require.NotNil(t, c.Failure)
	assert.Equal(t, "[31mred[0m\n", c.Failure.Body)
}

func resultsTar(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}))
	for name, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "./" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	var lines []string // busybox base64 wraps at 76 columns
	for len(enc) > 76 {
		lines, enc = append(lines, enc[:76]), enc[76:]
	}
	return strings.Join(append(lines, enc), "\r\n")
}

func TestParseResults(t *testing.T) {
	stream := "ENILAB up 2.21 6.1.0-56-cloud-amd64\r\n" +
		"ENILAB module-failed ipvlan\r\n" +
		"ENILAB rc internal-nsutil 0 2.50 3.75\r\n" +
		"ENILAB rc e2e.dummy 1 3.75 10.00\r\n" +
		"ENILAB tar-begin\r\n" +
		resultsTar(t, map[string]string{"e2e.dummy.out": strings.Repeat("spec output\n", 200), "e2e.dummy.xml": "<testsuites/>"}) + "\r\n" +
		"ENILAB tar-end\r\n" +
		"ENILAB done 10.50\r\n"
	rep, err := ParseResults(strings.NewReader(stream))
	require.NoError(t, err)
	assert.True(t, rep.Done)
	assert.Equal(t, "6.1.0-56-cloud-amd64", rep.Kernel)
	assert.Equal(t, 2210*time.Millisecond, rep.Up)
	assert.Equal(t, 10500*time.Millisecond, rep.DoneAt)
	assert.Equal(t, SuiteResult{ID: "internal-nsutil", Exit: 0, Duration: 1250 * time.Millisecond}, rep.Suites["internal-nsutil"])
	assert.Equal(t, 1, rep.Suites["e2e.dummy"].Exit)
	assert.Equal(t, strings.Repeat("spec output\n", 200), string(rep.Files["e2e.dummy.out"]))
	assert.Equal(t, "<testsuites/>", string(rep.Files["e2e.dummy.xml"]))
	assert.Equal(t, []string{"kernel module failed to load: ipvlan"}, rep.Warnings)
}

func TestParseResultsOfAVMThatDied(t *testing.T) {
	rep, err := ParseResults(strings.NewReader("ENILAB up 2.0 6.1\nENILAB rc a 0 2 3\nENILAB tar-begin\nH4sIAAAA"))
	require.NoError(t, err)
	assert.False(t, rep.Done, "no done line: the VM did not finish")
	assert.Contains(t, rep.Suites, "a", "what arrived is kept")
	assert.Empty(t, rep.Files)

	_, err = ParseResults(strings.NewReader("ENILAB rc a notanumber 1 2\n"))
	assert.Error(t, err)
}

func TestCountJUnitReadsGinkgoReports(t *testing.T) {
	ginkgo := `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" disabled="0" errors="0" failures="1" time="1.5">
  <testsuite name="e2e" package="/src/e2e" tests="4" skipped="1" failures="1" errors="0" time="1.5">
    <testcase name="[BeforeSuite]" classname="e2e" status="passed" time="0.1"></testcase>
    <testcase name="[It] warm pool keeps WARM_IP_TARGET [dummy]" classname="e2e" status="passed" time="0.5"></testcase>
    <testcase name="[It] pods ping across nodes [fabric]" classname="e2e" status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
    <testcase name="[It] max pods" classname="e2e" status="failed" time="0.9"><failure message="Expected 29" type="failed">boom</failure></testcase>
  </testsuite>
</testsuites>`
	p, f, s := countJUnit([]byte(ginkgo))
	assert.Equal(t, [3]int{2, 1, 1}, [3]int{p, f, s})
	p, f, s = countJUnit(nil)
	assert.Equal(t, [3]int{0, 0, 0}, [3]int{p, f, s})
}
