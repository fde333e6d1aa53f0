package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// eachRow calls fn with each data row of a TSV file:
// '#' comments and blank lines are skipped, and so is the first other line
// (the header). fn's error stops the read, prefixed with the line.
func eachRow(r io.Reader, fn func(text string) error) error {
	sc := bufio.NewScanner(r)
	line, header := 0, true
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.HasPrefix(text, "#") || strings.TrimSpace(text) == "" {
			continue
		}
		if header {
			header = false
			continue
		}
		if err := fn(text); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
	return sc.Err()
}

// eachFileRow is eachRow over the file at path, its errors naming it.
func eachFileRow(path string, fn func(text string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := eachRow(f, fn); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
