package config

import (
	"fmt"
	"log/slog"
	"strings"
)

// parseLevel maps upstream's AWS_VPC_K8S_CNI_LOGLEVEL values to slog levels.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "DEBUG", "TRACE":
		return slog.LevelDebug, nil
	case "INFO":
		return slog.LevelInfo, nil
	case "WARN", "WARNING":
		return slog.LevelWarn, nil
	case "ERROR", "FATAL", "PANIC":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level (use DEBUG, INFO, WARN or ERROR)")
}

// SlogLevel is the slog level of AWS_VPC_K8S_CNI_LOGLEVEL (INFO when unset
// or unknown; Validate reports unknown values).
func (c Config) SlogLevel() slog.Level {
	if l, err := parseLevel(c.LogLevel); err == nil {
		return l
	}
	return slog.LevelInfo
}
