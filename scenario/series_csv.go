package scenario

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// CSVFiles are the files WriteCSV writes, in order.
var CSVFiles = []string{"nodes.csv", "ec2.csv", "pods.csv"}

// WriteCSV writes the report's series as spreadsheets into dir (created if
// missing), one file per series with a header row, in long format:
// nodes.csv (a node's figures at each change), ec2.csv (an action's
// requests per lab second) and pods.csv (every pod with its ready latency).
func (r *Report) WriteCSV(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, rows := range [][][]string{r.nodeRows(), r.ec2Rows(), r.podRows()} {
		if err := writeCSVFile(filepath.Join(dir, CSVFiles[i]), rows); err != nil {
			return err
		}
	}
	return nil
}

func (r *Report) nodeRows() [][]string {
	rows := [][]string{{"node", "labMs", "enis", "totalIPs", "assignedIPs", "warmIPs", "prefixes", "readyPods", "pendingPods", "rejectedPods"}}
	for _, n := range r.Series.Nodes {
		for _, p := range n.Points {
			rows = append(rows, append([]string{n.Node, strconv.FormatInt(p.LabMs, 10)},
				itoa(p.ENIs, p.TotalIPs, p.AssignedIPs, p.WarmIPs, p.Prefixes, p.ReadyPods, p.PendingPods, p.RejectedPods)...))
		}
	}
	return rows
}

func (r *Report) ec2Rows() [][]string {
	rows := [][]string{{"action", "second", "calls", "errors", "throttles"}}
	for _, e := range r.Series.EC2 {
		rows = append(rows, append([]string{e.Action, strconv.FormatInt(e.Second, 10)}, itoa(e.Calls, e.Errors, e.Throttles)...))
	}
	return rows
}

func (r *Report) podRows() [][]string {
	rows := [][]string{{"pod", "node", "phase", "ip", "eni", "device", "subnet", "readyLatencyMs", "message"}}
	for _, p := range r.Pods.Items {
		rows = append(rows, []string{p.Name, p.Node, p.Phase, p.IP, p.ENI, strconv.Itoa(p.Device), p.Subnet,
			strconv.FormatInt(p.ReadyLatencyMs, 10), p.Message})
	}
	return rows
}

func itoa(vs ...int) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strconv.Itoa(v)
	}
	return out
}

func writeCSVFile(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(rows); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
