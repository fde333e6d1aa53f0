package config

// EnvEnablePodENI is upstream's switch for security groups for pods: the
// VPC resource controller attaches a trunk ENI, and ipamd hands pods with
// a vpc.amazonaws.com/pod-eni annotation their branch ENI.
const EnvEnablePodENI = "ENABLE_POD_ENI"
