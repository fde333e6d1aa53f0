package cniplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/enilab/enilab/internal/datapath"
)

// Defaults of the plugin's own config fields, as upstream ships them.
const (
	DefaultVethPrefix   = "eni"
	DefaultIPAMDSocket  = "/var/run/aws-node/ipamd.sock"
	DefaultMTU          = 9001
	DefaultIPAMDTimeout = 10 * time.Second
	// PluginType is the `type` a network configuration names the plugin by.
	PluginType = "aws-cni"
)

// SupportedVersions are the CNI spec versions the plugin accepts in a
// configuration. Older versions have no CHECK, which a user of this lab
// relies on, so they are refused rather than half supported.
var SupportedVersions = []string{"0.4.0", "1.0.0", "1.1.0"}

// Config is the plugin's network configuration: the standard fields plus
// those of the upstream aws-cni. The zero value of every own field means its
// default.
type Config struct {
	types.PluginConf

	// MTU of the pod's eth0 (and its host peer). Upstream writes it as a
	// string ("9001"); both a string and a number are accepted.
	MTU flexInt `json:"mtu,omitempty"`
	// VethPrefix starts every host-side veth name; at most 4 characters so
	// the name fits IFNAMSIZ with the 11-hex-digit hash.
	VethPrefix string `json:"vethPrefix,omitempty"`
	// IPAMDSocket is ipamd's gRPC unix socket.
	IPAMDSocket string `json:"ipamdSocket,omitempty"`
	// IPAMDTimeout bounds each call to ipamd ("10s"); a Go duration.
	IPAMDTimeout string `json:"ipamdTimeout,omitempty"`
	// StateDir keeps one small record per attachment so CHECK knows the
	// secondary-ENI table of a pod and GC finds attachments the runtime
	// forgot. Default: "aws-cni" beside the ipamd socket, so each ipamd (each
	// lab node) has its own.
	StateDir string `json:"stateDir,omitempty"`
	// PluginLogFile, as upstream, gets one line per command (what, which
	// container, how long, the error); "" (the lab's default) logs nothing.
	PluginLogFile string `json:"pluginLogFile,omitempty"`
	// PluginLogLevel is debug, info (default), warn or error.
	PluginLogLevel string `json:"pluginLogLevel,omitempty"`
	// PodSGEnforcingMode is POD_SECURITY_GROUP_ENFORCING_MODE as aws-node
	// writes it into the conflist: "strict" (default) or "standard".
	PodSGEnforcingMode string `json:"podSGEnforcingMode,omitempty"`
}

// flexInt accepts 9001 and "9001"; an empty string is zero.
type flexInt struct {
	V   int
	Set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf(`"mtu" %q is not a whole number`, s)
		}
		f.V, f.Set = n, true
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf(`"mtu" %s is not a number`, b)
	}
	v, err := strconv.Atoi(n.String())
	if err != nil {
		return fmt.Errorf(`"mtu" %s is not a whole number`, n)
	}
	f.V, f.Set = v, true
	return nil
}

func (f flexInt) MarshalJSON() ([]byte, error) { return json.Marshal(f.V) }

// Settings are the validated, defaulted values a command works with.
type Settings struct {
	Conf         *Config
	MTU          int
	VethPrefix   string
	IPAMDSocket  string
	IPAMDTimeout time.Duration
	StateDir     string
	LogFile      string
	LogLevel     slog.Level
	// Enforcing is the branch pods' POD_SECURITY_GROUP_ENFORCING_MODE.
	Enforcing datapath.EnforcingMode
}

// ParseConfig decodes and validates a network configuration. Its errors are
// *types.Error: code 7 (invalid network config) naming every problem, or 1
// for a cniVersion the plugin does not speak.
func ParseConfig(data []byte) (*Settings, error) {
	var conf Config
	if err := json.Unmarshal(data, new(any)); err != nil {
		return nil, types.NewError(types.ErrInvalidNetworkConfig,
			"aws-cni: network configuration is not valid JSON: "+jsonErr(data, err), "")
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		return nil, types.NewError(types.ErrInvalidNetworkConfig,
			"aws-cni: invalid network configuration: "+jsonErr(data, err), "")
	}
	if conf.CNIVersion != "" && !slices.Contains(SupportedVersions, conf.CNIVersion) {
		return nil, types.NewError(types.ErrIncompatibleCNIVersion,
			fmt.Sprintf("aws-cni: unsupported cniVersion %q: this plugin supports %s", conf.CNIVersion, strings.Join(SupportedVersions, ", ")), "")
	}
	s, err := conf.settings()
	if err != nil {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, "aws-cni: invalid network configuration: "+err.Error(), "")
	}
	if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, "aws-cni: invalid prevResult: "+err.Error(), "")
	}
	return s, nil
}

// Validate reports every problem with c at once.
func (c *Config) Validate() error {
	_, err := c.settings()
	return err
}

func (c *Config) settings() (*Settings, error) {
	s := &Settings{Conf: c, MTU: DefaultMTU, VethPrefix: DefaultVethPrefix, IPAMDSocket: DefaultIPAMDSocket, IPAMDTimeout: DefaultIPAMDTimeout}
	var errs []error
	if c.CNIVersion == "" {
		errs = append(errs, errors.New(`"cniVersion" is missing (use one of `+strings.Join(SupportedVersions, ", ")+`)`))
	}
	if c.Name == "" {
		errs = append(errs, errors.New(`"name" is missing`))
	}
	if c.MTU.Set {
		if c.MTU.V < 576 || c.MTU.V > 9001 {
			errs = append(errs, fmt.Errorf(`"mtu" %d is outside 576..9001`, c.MTU.V))
		} else {
			s.MTU = c.MTU.V
		}
	}
	if c.VethPrefix != "" {
		s.VethPrefix = c.VethPrefix
	}
	switch {
	case len(s.VethPrefix) > 4:
		errs = append(errs, fmt.Errorf(`"vethPrefix" %q is longer than 4 characters (prefix + 11 hash digits must fit a 15-character interface name)`, s.VethPrefix))
	case s.VethPrefix == "eth" || s.VethPrefix == "lo" || s.VethPrefix == "vlan":
		errs = append(errs, fmt.Errorf(`"vethPrefix" %q is reserved (eth, lo and vlan name other interfaces)`, s.VethPrefix))
	case strings.ContainsAny(s.VethPrefix, "/ :\x00"):
		errs = append(errs, fmt.Errorf(`"vethPrefix" %q contains a character not allowed in an interface name`, s.VethPrefix))
	}
	if c.IPAMDSocket != "" {
		if !filepath.IsAbs(c.IPAMDSocket) {
			errs = append(errs, fmt.Errorf(`"ipamdSocket" %q must be an absolute path`, c.IPAMDSocket))
		}
		s.IPAMDSocket = c.IPAMDSocket
	}
	if c.IPAMDTimeout != "" {
		d, err := time.ParseDuration(c.IPAMDTimeout)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf(`"ipamdTimeout" %q is not a positive duration like "10s"`, c.IPAMDTimeout))
		} else {
			s.IPAMDTimeout = d
		}
	}
	if c.PluginLogFile != "" && !filepath.IsAbs(c.PluginLogFile) {
		errs = append(errs, fmt.Errorf(`"pluginLogFile" %q must be an absolute path`, c.PluginLogFile))
	}
	s.LogFile = c.PluginLogFile
	if c.PluginLogLevel != "" {
		if err := s.LogLevel.UnmarshalText([]byte(c.PluginLogLevel)); err != nil {
			errs = append(errs, fmt.Errorf(`"pluginLogLevel" %q is not one of debug, info, warn, error`, c.PluginLogLevel))
		}
	}
	s.Enforcing = datapath.DefaultEnforcing
	switch m := datapath.EnforcingMode(c.PodSGEnforcingMode); m {
	case "":
	case datapath.EnforcingStrict, datapath.EnforcingStandard:
		s.Enforcing = m
	default:
		errs = append(errs, fmt.Errorf(`"podSGEnforcingMode" %q is not strict or standard`, c.PodSGEnforcingMode))
	}
	s.StateDir = c.StateDir
	if s.StateDir == "" {
		s.StateDir = filepath.Join(filepath.Dir(s.IPAMDSocket), "aws-cni")
	} else if !filepath.IsAbs(s.StateDir) {
		errs = append(errs, fmt.Errorf(`"stateDir" %q must be an absolute path`, c.StateDir))
	}
	return s, errors.Join(errs...)
}

// jsonErr names where in data a decoding error is.
func jsonErr(data []byte, err error) string {
	if len(bytes.TrimSpace(data)) == 0 {
		return "the configuration is empty"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return fmt.Sprintf("%v (line %d, byte %d)", err, line, se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: %v is not a %v", te.Field, te.Value, te.Type)
	}
	return err.Error()
}
