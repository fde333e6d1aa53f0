package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SuiteResult is what the VM reported about one suite.
type SuiteResult struct {
	ID       string
	Exit     int           // exit status of the test binary
	Duration time.Duration // wall time inside the VM
}

// Report is everything read back from the VM's results port.
type Report struct {
	Up       time.Duration // guest uptime when /init started
	Kernel   string
	Suites   map[string]SuiteResult
	Files    map[string][]byte // files of /results: <id>.out, <id>.rc, <id>.xml
	Done     bool              // the VM got to the end of its script
	DoneAt   time.Duration     // guest uptime at the end
	Warnings []string
}

// ParseResults reads the results port. It tolerates the CR a tty may add
// and a stream cut short (a VM that died): whatever arrived is reported, and
// Done says whether the VM finished.
func ParseResults(r io.Reader) (*Report, error) {
	rep := &Report{Suites: map[string]SuiteResult{}, Files: map[string][]byte{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var b64 *strings.Builder
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if !strings.HasPrefix(line, resultPrefix) {
			if b64 != nil {
				b64.WriteString(strings.TrimSpace(line))
			}
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, resultPrefix))
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "up":
			if len(f) >= 2 {
				rep.Up = seconds(f[1])
			}
			if len(f) >= 3 {
				rep.Kernel = f[2]
			}
		case "module-failed":
			rep.Warnings = append(rep.Warnings, "kernel module failed to load: "+strings.Join(f[1:], " "))
		case "rc":
			if len(f) < 3 {
				return nil, fmt.Errorf("results: malformed line %q", line)
			}
			code, err := strconv.Atoi(f[2])
			if err != nil {
				return nil, fmt.Errorf("results: bad exit status in %q", line)
			}
			res := SuiteResult{ID: f[1], Exit: code}
			if len(f) >= 5 {
				res.Duration = seconds(f[4]) - seconds(f[3])
			}
			rep.Suites[res.ID] = res
		case "tar-begin":
			b64 = &strings.Builder{}
		case "tar-end":
			if b64 == nil {
				return nil, errors.New("results: tar-end without tar-begin")
			}
			files, err := decodeResultsTar(b64.String())
			if err != nil {
				rep.Warnings = append(rep.Warnings, err.Error())
			}
			for k, v := range files {
				rep.Files[k] = v
			}
			b64 = nil
		case "done":
			rep.Done = true
			if len(f) >= 2 {
				rep.DoneAt = seconds(f[1])
			}
		}
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("results: %w", err)
	}
	return rep, nil
}

func seconds(s string) time.Duration {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return time.Duration(v * float64(time.Second))
}

func decodeResultsTar(b64 string) (map[string][]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("results archive: base64: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("results archive: %w", err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return files, fmt.Errorf("results archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return files, fmt.Errorf("results archive: %s: %w", h.Name, err)
		}
		files[strings.TrimPrefix(h.Name, "./")] = data
	}
}

// JUnit document types (the subset every CI system reads).
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut *junitOutput  `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",cdata"`
}

type junitOutput struct {
	Body string `xml:",cdata"`
}

// xmlText drops what XML 1.0 cannot carry (terminal escapes, other control
// characters), keeping tabs and newlines.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || (r >= 0x20 && r != 0x7f && r != 0xfffe && r != 0xffff) {
			return r
		}
		return -1
	}, s)
}

var (
	reRun    = regexp.MustCompile(`^=== (RUN|CONT|NAME|PAUSE)\s+(\S+)`)
	reResult = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) \(([0-9.]+)s\)`)
)

// GoTestJUnit converts the `-test.v` output of one test binary into a JUnit
// suite. Output lines go to the test that was running when they were
// printed. A test that started but never finished (the binary panicked or
// was killed) is a failure, and so is a non-zero exit with no failed test
// (TestMain, a leak check): the JUnit must fail exactly when the run did.
func GoTestJUnit(name string, output []byte, exit int) ([]byte, junitSuite) {
	order, cases := parseVerbose(name, output)
	suite := junitSuite{Name: name}
	var total float64
	failed := 0
	for _, n := range order {
		c := cases[n]
		if c.judge() {
			failed++
		}
		if c.Skipped != nil {
			suite.Skipped++
		}
		if t, err := strconv.ParseFloat(c.Time, 64); err == nil && !strings.Contains(n, "/") {
			total += t
		}
		if c.Time == "" {
			c.Time = "0"
		}
		suite.Cases = append(suite.Cases, c.junitCase)
	}
	if exit != 0 && failed == 0 {
		suite.Cases = append(suite.Cases, junitCase{
			Name: "(test binary)", Classname: name, Time: "0",
			Failure: &junitMessage{Message: fmt.Sprintf("exit status %d with no failed test", exit), Body: xmlText(tail(string(output), 4000))},
		})
		failed++
	}
	suite.Tests = len(suite.Cases)
	suite.Failures = failed
	suite.Time = strconv.FormatFloat(total, 'f', 3, 64)
	out, _ := xml.MarshalIndent(junitSuites{Suites: []junitSuite{suite}}, "", "  ")
	return append([]byte(xml.Header), append(out, '\n')...), suite
}

// verboseCase is one test of a `-test.v` run as it is read.
type verboseCase struct {
	junitCase
	out    strings.Builder
	result string
}

// judge fills the JUnit verdict from the result line (none: the test never
// finished) and reports whether the test failed.
func (c *verboseCase) judge() (failed bool) {
	body := xmlText(c.out.String())
	switch c.result {
	case "FAIL":
		c.Failure = &junitMessage{Message: "Failed", Body: body}
		return true
	case "SKIP":
		c.Skipped = &junitMessage{Message: skipReason(body), Body: body}
	case "PASS":
		if body != "" {
			c.SystemOut = &junitOutput{Body: body}
		}
	default:
		c.Failure = &junitMessage{Message: "did not finish (the test binary exited or was killed)", Body: body}
		return true
	}
	return false
}

// parseVerbose reads `-test.v` output into tests in the order they started.
func parseVerbose(name string, output []byte) ([]string, map[string]*verboseCase) {
	var (
		order   []string
		cases   = map[string]*verboseCase{}
		current string
	)
	get := func(n string) *verboseCase {
		c, ok := cases[n]
		if !ok {
			c = &verboseCase{junitCase: junitCase{Name: n, Classname: name}}
			cases[n] = c
			order = append(order, n)
		}
		return c
	}
	for _, line := range strings.Split(strings.ReplaceAll(string(output), "\r", ""), "\n") {
		if m := reRun.FindStringSubmatch(line); m != nil {
			current = m[2]
			get(current)
			continue
		}
		if m := reResult.FindStringSubmatch(line); m != nil {
			c := get(m[2])
			c.result = m[1]
			c.Time = m[3]
			// Later lines belong to the parent test while it still runs; a
			// finished test owns nothing after it (the binary's PASS/FAIL,
			// or subtest results go test prints after their parent's).
			current = ""
			if i := strings.LastIndex(m[2], "/"); i > 0 {
				if p, ok := cases[m[2][:i]]; ok && p.result == "" {
					current = m[2][:i]
				}
			}
			continue
		}
		if current != "" {
			c := get(current)
			c.out.WriteString(line)
			c.out.WriteString("\n")
		}
	}
	return order, cases
}

// skipReason is the first line a skipped test printed (its t.Skip message).
func skipReason(body string) string {
	for _, l := range strings.Split(body, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if _, msg, ok := strings.Cut(l, ": "); ok && strings.Contains(l, ".go:") {
				return msg
			}
			return l
		}
	}
	return "skipped"
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
