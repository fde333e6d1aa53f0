package scenario

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sgpHead = `
name: sgp
vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24, az: us-west-2a}]
nodes: [{name: node-1, instanceType: m5.large, subnet: subnet-a}]
`

func TestParseSecurityGroupsAndPolicies(t *testing.T) {
	sc := parseOK(t, sgpHead+`
securityGroups:
  - name: db
    ingress: [{protocol: tcp, port: 5432, group: clients}, {protocol: icmp, cidr: 10.0.0.0/16}]
  - {name: clients, egress: [{protocol: TCP, fromPort: 5000, toPort: 6000, cidr: 0.0.0.0/0}]}
securityGroupPolicies:
  - {name: p, podSelector: {role: client}, securityGroups: [clients, sg-0123]}
steps:
  - {deploy: {name: c, replicas: 1, labels: {role: client}}}
  - {expect: {node: node-1, branchENIs: 1}}
`)
	require.Len(t, sc.SecurityGroups, 2)
	assert.Equal(t, []SGRule{{Protocol: "tcp", FromPort: 5432, ToPort: 5432, Group: "clients"}, {Protocol: "icmp", FromPort: -1, ToPort: -1, CIDR: "10.0.0.0/16"}}, sc.SecurityGroups[0].Ingress)
	assert.Equal(t, []SGRule{{Protocol: "tcp", FromPort: 5000, ToPort: 6000, CIDR: "0.0.0.0/0"}}, sc.SecurityGroups[1].Egress)
	assert.Equal(t, []SecurityGroupPolicy{{Name: "p", PodSelector: map[string]string{"role": "client"}, SecurityGroups: []string{"clients", "sg-0123"}}}, sc.SecurityGroupPolicies)
	assert.Equal(t, map[string]string{"role": "client"}, sc.Steps[0].Deploy.Labels)
	assert.Equal(t, 1, sc.Steps[1].Expect.Figures["branchENIs"])
}

func TestParseSecurityGroupMistakes(t *testing.T) {
	ps := problems(t, sgpHead+`
securityGroups:
  - name: db
    ingress: [{protocol: sctp, cidr: 10.0.0.0/16}, {cidr: 10.0.0.0/16, group: db}, {cidr: 10.0.0.300/16}]
  - {name: db}
securityGroupPolicies:
  - {name: p}
`)
	text := ps.Error()
	for _, want := range []string{`unknown protocol "sctp"`, "want exactly one of cidr and group", `bad CIDR "10.0.0.300/16"`, `security group "db" is defined twice`, "a policy names at least one security group"} {
		assert.True(t, strings.Contains(text, want), "want %q in:\n%s", want, text)
	}
}

func TestParseHostsAndCurlToAHost(t *testing.T) {
	sc := parseOK(t, sgpHead+`
securityGroups: [{name: db}]
hosts: [{name: db, subnet: subnet-a, securityGroups: [db], port: 5432}]
steps:
  - {pods: {node: node-1, add: 1}}
  - {curl: {from: node-1/pod-1, to: db, expect: timeout}}
`)
	assert.Equal(t, []Host{{Name: "db", Subnet: "subnet-a", SecurityGroups: []string{"db"}, Port: 5432}}, sc.Hosts)
	assert.Equal(t, "db", sc.Steps[1].Curl.To)
	assert.False(t, sc.Steps[1].Curl.ExpectOK)

	ps := problems(t, sgpHead+`
hosts: [{name: internet, subnet: subnet-a, port: 70000}]
steps:
  - {curl: {from: node-1, to: dbx}}
`)
	text := ps.Error()
	for _, want := range []string{`host name "internet" is taken`, "a port is at most 65535", `or a host of ` + "`hosts:`" + `, got "dbx"`} {
		assert.True(t, strings.Contains(text, want), "want %q in:\n%s", want, text)
	}
}

// A curl may leave from a deployment's pod by its kubectl name (client-1),
// once a deploy step created that deployment.
func TestParseCurlFromADeploymentPod(t *testing.T) {
	sc := parseOK(t, sgpHead+`
securityGroups: [{name: db}]
hosts: [{name: db, subnet: subnet-a, securityGroups: [db], port: 5432}]
steps:
  - {deploy: {name: client, replicas: 1}}
  - {curl: {from: client-1, to: db}}
`)
	assert.Equal(t, "client-1", sc.Steps[1].Curl.From)
	ps := problems(t, sgpHead+`
securityGroups: [{name: db}]
hosts: [{name: db, subnet: subnet-a, securityGroups: [db], port: 5432}]
steps:
  - {curl: {from: client-1, to: db}}
`)
	assert.Contains(t, ps.Error(), `"client-1"`)
}
