package ipamdclient

// The messages of ipamd/rpc/rpc.proto the plugin exchanges, with the field
// names and numbers of the generated types; messages_test.go proves the
// bytes are the ones the generated code reads and writes.

// AddNetworkRequest is rpc.AddNetworkRequest.
type AddNetworkRequest struct {
	K8S_POD_NAME               string // 1
	K8S_POD_NAMESPACE          string // 2
	K8S_POD_INFRA_CONTAINER_ID string // 3
	Netns                      string // 4
	IfName                     string // 5
	NetworkName                string // 6
	ContainerID                string // 7
	ClientVersion              string // 8
	RequiresMultiNICAttachment bool   // 9
}

func (m *AddNetworkRequest) marshal() []byte {
	var b encoder
	b.str(1, m.K8S_POD_NAME)
	b.str(2, m.K8S_POD_NAMESPACE)
	b.str(3, m.K8S_POD_INFRA_CONTAINER_ID)
	b.str(4, m.Netns)
	b.str(5, m.IfName)
	b.str(6, m.NetworkName)
	b.str(7, m.ContainerID)
	b.str(8, m.ClientVersion)
	b.boolean(9, m.RequiresMultiNICAttachment)
	return b.buf
}

// DelNetworkRequest is rpc.DelNetworkRequest.
type DelNetworkRequest struct {
	K8S_POD_NAME               string // 1
	K8S_POD_NAMESPACE          string // 2
	K8S_POD_INFRA_CONTAINER_ID string // 3
	Reason                     string // 5
	IfName                     string // 6
	NetworkName                string // 7
	ContainerID                string // 8
	ClientVersion              string // 9
	K8S_POD_UID                string // 10
}

func (m *DelNetworkRequest) marshal() []byte {
	var b encoder
	b.str(1, m.K8S_POD_NAME)
	b.str(2, m.K8S_POD_NAMESPACE)
	b.str(3, m.K8S_POD_INFRA_CONTAINER_ID)
	b.str(5, m.Reason)
	b.str(6, m.IfName)
	b.str(7, m.NetworkName)
	b.str(8, m.ContainerID)
	b.str(9, m.ClientVersion)
	b.str(10, m.K8S_POD_UID)
	return b.buf
}

// IPAllocationMetadata is rpc.IPAllocationMetadata.
type IPAllocationMetadata struct {
	IPv4Addr     string // 1
	IPv6Addr     string // 2
	DeviceNumber int32  // 3
	RouteTableId int32  // 4
}

// GetIPv4Addr is nil-safe, as the generated getter.
func (m *IPAllocationMetadata) GetIPv4Addr() string {
	if m == nil {
		return ""
	}
	return m.IPv4Addr
}

// GetDeviceNumber is nil-safe, as the generated getter.
func (m *IPAllocationMetadata) GetDeviceNumber() int32 {
	if m == nil {
		return 0
	}
	return m.DeviceNumber
}

// GetRouteTableId is nil-safe, as the generated getter.
func (m *IPAllocationMetadata) GetRouteTableId() int32 {
	if m == nil {
		return 0
	}
	return m.RouteTableId
}

func (m *IPAllocationMetadata) unmarshal(data []byte) error {
	return walk(data, func(f field) error {
		switch f.num {
		case 1:
			m.IPv4Addr = f.str()
		case 2:
			m.IPv6Addr = f.str()
		case 3:
			m.DeviceNumber = int32(f.varint)
		case 4:
			m.RouteTableId = int32(f.varint)
		}
		return nil
	})
}

// AddNetworkReply is the part of rpc.AddNetworkReply the plugin reads
// (other fields are skipped).
type AddNetworkReply struct {
	Success              bool                    // 1
	IPAllocationMetadata []*IPAllocationMetadata // 2
}

// GetSuccess is nil-safe, as the generated getter.
func (m *AddNetworkReply) GetSuccess() bool { return m != nil && m.Success }

// GetIPAllocationMetadata is nil-safe, as the generated getter.
func (m *AddNetworkReply) GetIPAllocationMetadata() []*IPAllocationMetadata {
	if m == nil {
		return nil
	}
	return m.IPAllocationMetadata
}

func (m *AddNetworkReply) unmarshal(data []byte) error {
	var err error
	m.Success, m.IPAllocationMetadata, err = unmarshalReply(data)
	return err
}

// DelNetworkReply is the part of rpc.DelNetworkReply the plugin reads.
type DelNetworkReply struct {
	Success              bool                    // 1
	IPAllocationMetadata []*IPAllocationMetadata // 2
}

// GetSuccess is nil-safe, as the generated getter.
func (m *DelNetworkReply) GetSuccess() bool { return m != nil && m.Success }

// GetIPAllocationMetadata is nil-safe, as the generated getter.
func (m *DelNetworkReply) GetIPAllocationMetadata() []*IPAllocationMetadata {
	if m == nil {
		return nil
	}
	return m.IPAllocationMetadata
}

func (m *DelNetworkReply) unmarshal(data []byte) error {
	var err error
	m.Success, m.IPAllocationMetadata, err = unmarshalReply(data)
	return err
}

// unmarshalReply reads fields 1 (Success) and 2 (IPAllocationMetadata),
// which both replies share.
func unmarshalReply(data []byte) (ok bool, meta []*IPAllocationMetadata, err error) {
	err = walk(data, func(f field) error {
		switch {
		case f.num == 1 && f.wire == wireVarint:
			ok = f.varint != 0
		case f.num == 2 && f.wire == wireBytes:
			m := &IPAllocationMetadata{}
			if err := m.unmarshal(f.bytes); err != nil {
				return err
			}
			meta = append(meta, m)
		}
		return nil
	})
	return ok, meta, err
}

// healthResponse is grpc.health.v1.HealthCheckResponse: field 1, the
// serving status (1 = SERVING).
type healthResponse struct{ status int32 }

func (m *healthResponse) unmarshal(data []byte) error {
	return walk(data, func(f field) error {
		if f.num == 1 && f.wire == wireVarint {
			m.status = int32(f.varint)
		}
		return nil
	})
}
