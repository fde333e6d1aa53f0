package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Warning is a setting the VPC CNI does not refuse but ignores or replaces:
// aws-node starts, with a default instead of the value given.
type Warning struct {
	Var string // the environment variable
	// Msg says what the VPC CNI does instead (enilab validate prints it).
	Msg string
	// Log is upstream's log line at start-up, "" where upstream says
	// nothing; Level is its level.
	Log   string
	Level slog.Level
}

func (w Warning) String() string { return w.Var + ": " + w.Msg }

// ReservedTagKeyPart is what upstream's loadAdditionalENITags refuses in an
// ADDITIONAL_ENI_TAGS key (anywhere in it, not only as a prefix).
const ReservedTagKeyPart = "k8s.amazonaws.com"

// fallbackInt reads a count the way upstream's getWarmENITarget,
// getWarmIPTarget, getMinimumIPTarget, getWarmPrefixTarget and getMaxENI do:
// a value that is not an integer, or is below min, is ignored silently and
// the default (described by dflt) stays.
func (r *envReader) fallbackInt(name string, dst *int, min int, dflt string) {
	v, ok := r.get(name)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err == nil && n >= min {
		*dst = n
		return
	}
	why := "not an integer"
	if err == nil {
		why = fmt.Sprintf("below %d", min)
	}
	r.warn = append(r.warn, Warning{Var: name, Msg: fmt.Sprintf("%q is %s; the VPC CNI ignores it and uses %s", v, why, dflt)})
}

// boolStyle is which upstream helper reads a boolean; each logs its own line.
type boolStyle int

const (
	// parseBoolEnvVar (ipamd.go): AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG, ENABLE_SUBNET_DISCOVERY.
	boolIPAMD boolStyle = iota
	// utils.GetBoolAsStringEnvVar: ENABLE_PREFIX_DELEGATION, DISABLE_LEAKED_ENI_CLEANUP.
	boolUtils
	// networkutils getBoolEnvVar: AWS_VPC_K8S_CNI_EXTERNALSNAT.
	boolNetworkUtils
)

// fallbackBool reads a boolean as upstream does: an unparsable value logs
// upstream's line and leaves the default.
func (r *envReader) fallbackBool(name string, dst *bool, style boolStyle) {
	v, ok := r.get(name)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(v)
	if err == nil {
		*dst = b
		return
	}
	w := Warning{Var: name, Msg: fmt.Sprintf("%q is not a boolean; the VPC CNI uses the default, %v", v, *dst)}
	switch style {
	case boolIPAMD:
		w.Log, w.Level = fmt.Sprintf("Failed to parse %s; using default: %v, err: %v", name, *dst, err), slog.LevelWarn
	case boolUtils:
		w.Log, w.Level = fmt.Sprintf("Failed to parse variable %s with value %s as boolean", name, v), slog.LevelError
	case boolNetworkUtils:
		// Upstream passes the error to an Errorf whose format has no verb
		// left; this is what it prints.
		w.Log, w.Level = fmt.Sprintf("Failed to parse %s; using default: %v%%!(EXTRA string=%v)", name, *dst, err), slog.LevelError
	}
	r.warn = append(r.warn, w)
}

// additionalTags reads ADDITIONAL_ENI_TAGS as upstream's
// loadAdditionalENITags does: bad JSON drops them all, a key containing
// k8s.amazonaws.com is dropped alone; each with upstream's warning.
func (r *envReader) additionalTags(dst *map[string]string) {
	v, ok := r.get(EnvAdditionalENITags)
	if !ok {
		return
	}
	tags := map[string]string{}
	if err := json.Unmarshal([]byte(v), &tags); err != nil {
		r.warn = append(r.warn, Warning{
			Var: EnvAdditionalENITags, Msg: fmt.Sprintf("%q is not a JSON object of strings (e.g. {\"team\":\"net\"}); the VPC CNI adds no additional tags", v),
			Log: fmt.Sprintf("failed to parse additional ENI Tags from env %v due to %v", EnvAdditionalENITags, err), Level: slog.LevelWarn,
		})
		return
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if strings.Contains(k, ReservedTagKeyPart) {
			delete(tags, k)
			r.warn = append(r.warn, Warning{
				Var: EnvAdditionalENITags, Msg: fmt.Sprintf("tag key %q contains the reserved %s; the VPC CNI drops this tag", k, ReservedTagKeyPart),
				Log: fmt.Sprintf("ignoring tagKey %v from additional ENI Tags as it contains reserved prefix %v", k, ReservedTagKeyPart), Level: slog.LevelWarn,
			})
		}
	}
	*dst = tags
}
