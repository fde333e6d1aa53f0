package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkhttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/enilab/enilab/internal/awshttp"
)

// ErrNotFound is returned (wrapped) for IMDS paths that do not exist (yet):
// a MAC that is attached but not visible in IMDS, a list that is empty.
var ErrNotFound = errors.New("not found in IMDS")

// IMDS reads the instance metadata service.
type IMDS struct {
	api      *imds.Client
	observer IMDSObserver
}

// IMDSObserver is told about every metadata read (upstream's
// instrumentedIMDS feeds awscni_aws_api_latency_ms with them).
type IMDSObserver interface {
	ObserveIMDS(latency time.Duration, err error)
}

// Observe sets the observer of metadata reads; call it before using m.
func (m *IMDS) Observe(o IMDSObserver) { m.observer = o }

// Identity is the instance identity document.
type Identity struct {
	InstanceID   string
	InstanceType string
	Region       string
	AZ           string
	PrivateIP    netip.Addr
}

// Identity returns the instance identity.
func (m *IMDS) Identity(ctx context.Context) (Identity, error) {
	out, err := m.api.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	if err != nil {
		return Identity{}, fmt.Errorf("IMDS identity document: %w", err)
	}
	id := Identity{InstanceID: out.InstanceID, InstanceType: out.InstanceType, Region: out.Region, AZ: out.AvailabilityZone}
	id.PrivateIP, _ = netip.ParseAddr(out.PrivateIP)
	if id.InstanceID == "" || id.InstanceType == "" {
		return id, fmt.Errorf("IMDS identity document lacks instanceId or instanceType")
	}
	return id, nil
}

// Get returns the text at a meta-data path.
func (m *IMDS) Get(ctx context.Context, path string) (string, error) {
	start := time.Now()
	out, err := m.api.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if m.observer != nil {
		m.observer.ObserveIMDS(time.Since(start), err)
	}
	if err != nil {
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) && re.HTTPStatusCode() == 404 {
			return "", fmt.Errorf("IMDS %s: %w", path, ErrNotFound)
		}
		return "", fmt.Errorf("IMDS %s: %w", path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(out.Content)
	if err != nil {
		return "", fmt.Errorf("IMDS %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (m *IMDS) list(ctx context.Context, path string) ([]string, error) {
	s, err := m.Get(ctx, path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// PrimaryMAC returns the MAC of the primary ENI.
func (m *IMDS) PrimaryMAC(ctx context.Context) (string, error) { return m.Get(ctx, "mac") }

// SecurityGroups returns the security group ids of the ENI with mac
// (upstream's GetSecurityGroupIDs).
func (m *IMDS) SecurityGroups(ctx context.Context, mac string) ([]string, error) {
	return m.list(ctx, "network/interfaces/macs/"+mac+"/security-group-ids")
}

// ENIMeta is what IMDS says about one ENI.
type ENIMeta struct {
	MAC          string
	ID           string
	DeviceNumber int
	NetworkCard  int
	SubnetID     string
	VPCID        string
	SubnetCIDR   netip.Prefix
	VPCCIDRs     []netip.Prefix
	IPs          []netip.Addr // primary first
	Prefixes     []netip.Prefix
}

// ENI returns IMDS's view of one ENI. A list that IMDS does not have
// (no prefixes yet) is empty, not an error.
func (m *IMDS) ENI(ctx context.Context, mac string) (ENIMeta, error) {
	base := "network/interfaces/macs/" + mac + "/"
	e := ENIMeta{MAC: mac}
	var err error
	if e.ID, err = m.Get(ctx, base+"interface-id"); err != nil {
		return e, err
	}
	dev, err := m.Get(ctx, base+"device-number")
	if err != nil {
		return e, err
	}
	if e.DeviceNumber, err = strconv.Atoi(dev); err != nil {
		return e, fmt.Errorf("IMDS device-number of %s: %q", mac, dev)
	}
	if card, err := m.Get(ctx, base+"network-card"); err == nil {
		e.NetworkCard, _ = strconv.Atoi(card)
	}
	if e.SubnetID, err = m.Get(ctx, base+"subnet-id"); err != nil {
		return e, err
	}
	e.VPCID, _ = m.Get(ctx, base+"vpc-id")
	cidr, err := m.Get(ctx, base+"subnet-ipv4-cidr-block")
	if err != nil {
		return e, err
	}
	if e.SubnetCIDR, err = netip.ParsePrefix(cidr); err != nil {
		return e, fmt.Errorf("IMDS subnet-ipv4-cidr-block of %s: %q", mac, cidr)
	}
	if l, err := m.list(ctx, base+"vpc-ipv4-cidr-blocks"); err == nil {
		for _, s := range l {
			if p, err := netip.ParsePrefix(s); err == nil {
				e.VPCCIDRs = append(e.VPCCIDRs, p)
			}
		}
	}
	ips, err := m.list(ctx, base+"local-ipv4s")
	if err != nil && !errors.Is(err, ErrNotFound) {
		return e, err
	}
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil {
			e.IPs = append(e.IPs, ip)
		}
	}
	pfx, err := m.list(ctx, base+"ipv4-prefix")
	if err != nil && !errors.Is(err, ErrNotFound) {
		return e, err
	}
	for _, s := range pfx {
		if p, err := netip.ParsePrefix(s); err == nil {
			e.Prefixes = append(e.Prefixes, p.Masked())
		}
	}
	return e, nil
}

// ENIs returns IMDS's view of every attached ENI, in the order IMDS lists
// their MACs (upstream's GetAttachedENIs): any ENI IMDS cannot describe
// fails the whole read.
func (m *IMDS) ENIs(ctx context.Context) ([]ENIMeta, error) {
	macs, err := m.list(ctx, "network/interfaces/macs/")
	if err != nil {
		return nil, err
	}
	out := make([]ENIMeta, 0, len(macs))
	for _, mac := range macs {
		e, err := m.ENI(ctx, strings.TrimSuffix(mac, "/"))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Clients are the SDK clients ipamd needs.
type Clients struct {
	IMDS *IMDS
	// NewEC2 builds the EC2 SDK client for a region (learned from IMDS).
	NewEC2 func(region string) *ec2.Client
}

// Endpoints override the SDK's endpoint resolution; empty fields leave it
// to the SDK (AWS_ENDPOINT_URL_EC2, AWS_EC2_METADATA_SERVICE_ENDPOINT,
// shared config, 169.254.169.254).
type Endpoints struct {
	EC2  string
	IMDS string
}

// LoadConfig loads the SDK's default configuration as aws-node does at
// start (environment, shared files). When no credentials are configured in
// the environment, static lab credentials are used (fakeec2 does not check
// signatures), so the SDK never goes looking for an instance role. SDK
// retries are off: EC2 retries on the lab clock.
func LoadConfig(ctx context.Context) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("enilab", "enilab", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS SDK configuration: %w", err)
	}
	return cfg, nil
}

// NewClients loads the SDK's configuration (LoadConfig) and builds the
// clients.
func NewClients(ctx context.Context, ep Endpoints) (*Clients, error) {
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return nil, err
	}
	return ClientsFrom(cfg, ep), nil
}

// ClientsFrom builds the clients from a configuration LoadConfig loaded,
// which the ipamds of one process (a lab's nodes, one environment) may
// share: each call gets an HTTP client of its own, with the configuration's
// transport settings (AWS_CA_BUNDLE's roots), so no connection is shared.
func ClientsFrom(cfg aws.Config, ep Endpoints) *Clients {
	if bc, ok := cfg.HTTPClient.(*sdkhttp.BuildableClient); ok {
		cfg.HTTPClient = bc.WithTransportOptions()
	}
	imdsClient := imds.NewFromConfig(cfg, func(o *imds.Options) {
		if ep.IMDS != "" {
			o.Endpoint = ep.IMDS
		}
		o.Retryer = aws.NopRetryer{}
		o.HTTPClient = awshttp.Wrap(o.HTTPClient)
	})
	return &Clients{
		IMDS: &IMDS{api: imdsClient},
		NewEC2: func(region string) *ec2.Client {
			return ec2.NewFromConfig(cfg, func(o *ec2.Options) {
				if region != "" {
					o.Region = region
				}
				if ep.EC2 != "" {
					o.BaseEndpoint = aws.String(ep.EC2)
				}
				o.Retryer = aws.NopRetryer{}
				o.HTTPClient = awshttp.Wrap(o.HTTPClient)
			})
		},
	}
}
