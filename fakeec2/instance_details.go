package fakeec2

import "time"

// The members of a DescribeInstances item that EC2 always answers and the
// fake holds no state for: the root volume, CPU, metadata and DNS options,
// with the values a default launch of an EKS-style node gets.

// rootDevice is the root device of every instance (EC2's for HVM AMIs).
const rootDevice = "/dev/xvda"

// writeInstanceDetails writes those members for in at now.
func writeInstanceDetails(x *xw, in *instance, now time.Time) {
	x.el("reason", in.transitionReason(now))
	if code, msg := in.stateReason(now); code != "" {
		x.open("stateReason")
		x.el("code", code)
		x.el("message", msg)
		x.close("stateReason")
	}
	x.el("rootDeviceName", rootDevice)
	x.open("blockDeviceMapping")
	x.open("item")
	x.el("deviceName", rootDevice)
	x.open("ebs")
	x.el("volumeId", in.rootVolume())
	x.el("status", in.rootStatus())
	x.el("attachTime", ts(in.launched))
	x.elBool("deleteOnTermination", true)
	x.close("ebs")
	x.close("item")
	x.close("blockDeviceMapping")
	nitro := modern(in.lim)
	x.elBool("ebsOptimized", nitro)
	x.elBool("enaSupport", nitro)
	x.el("clientToken", "")
	x.raw("<productCodes/>")
	x.el("platformDetails", "Linux/UNIX")
	x.el("usageOperation", "RunInstances")
	x.el("usageOperationUpdateTime", ts(in.launched))
	if c, th := cores(in.lim); c > 0 {
		x.open("cpuOptions")
		x.elInt("coreCount", c)
		x.elInt("threadsPerCore", th)
		x.close("cpuOptions")
	}
	x.raw("<capacityReservationSpecification><capacityReservationPreference>open</capacityReservationPreference></capacityReservationSpecification>")
	x.raw("<hibernationOptions><configured>false</configured></hibernationOptions>")
	x.raw("<metadataOptions><state>applied</state><httpTokens>required</httpTokens><httpPutResponseHopLimit>2</httpPutResponseHopLimit>" +
		"<httpEndpoint>enabled</httpEndpoint><httpProtocolIpv6>disabled</httpProtocolIpv6><instanceMetadataTags>disabled</instanceMetadataTags></metadataOptions>")
	x.raw("<enclaveOptions><enabled>false</enabled></enclaveOptions>")
	x.raw("<networkPerformanceOptions><bandwidthWeighting>default</bandwidthWeighting></networkPerformanceOptions>")
	x.raw("<operator><managed>false</managed></operator>")
	x.raw("<maintenanceOptions><autoRecovery>default</autoRecovery></maintenanceOptions>")
	x.raw("<privateDnsNameOptions><hostnameType>ip-name</hostnameType><enableResourceNameDnsARecord>false</enableResourceNameDnsARecord>" +
		"<enableResourceNameDnsAAAARecord>false</enableResourceNameDnsAAAARecord></privateDnsNameOptions>")
	x.el("currentInstanceBootMode", in.bootMode())
}

// transitionReason is EC2's stateTransitionReason: why the instance left
// running, if it did.
func (in *instance) transitionReason(now time.Time) string {
	if in.state == "running" {
		return ""
	}
	return "User initiated (" + in.goneAt.Add(-time.Nanosecond).UTC().Format("2006-01-02 15:04:05 MST") + ")"
}

// stateReason is EC2's stateReason of a pending or terminated instance.
func (in *instance) stateReason(now time.Time) (code, message string) {
	switch name, _ := in.phase(now); name {
	case "pending":
		return "pending", "pending"
	case "shutting-down", "terminated":
		return "Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"
	}
	return "", ""
}

// rootStatus is the root volume's attachment status.
func (in *instance) rootStatus() string {
	if in.state == "running" {
		return "attached"
	}
	return "detached"
}

// bootMode is uefi on Graviton, legacy-bios on x86 (EC2's default for AMIs
// that do not ask for uefi).
func (in *instance) bootMode() string {
	if in.lim.Architecture == "arm64" {
		return "uefi"
	}
	return "legacy-bios"
}

// rootVolume is the id of in's root EBS volume, derived from its own id.
func (in *instance) rootVolume() string { return "vol-" + in.id[len("i-"):] }

// sourceDestCheck is the primary ENI's, which is the instance's in EC2.
func (in *instance) sourceDestCheck() bool {
	for _, n := range in.enis {
		if n.device == 0 {
			return !n.noSourceDestCheck
		}
	}
	return true
}
