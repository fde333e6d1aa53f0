package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// readExceptions reads vcpus.tsv: instance type → default vCPUs where the
// size rule is wrong.
func readExceptions(path string) (map[string]int, error) {
	out := map[string]int{}
	err := eachFileRow(path, func(text string) error {
		name, n, ok := strings.Cut(text, "\t")
		v, err := strconv.Atoi(n)
		if !ok || err != nil {
			return fmt.Errorf("bad row %q", text)
		}
		out[name] = v
		return nil
	})
	return out, err
}

// fact is one row of api-2020.tsv.
type fact struct{ vcpus, memoryMiB int }

// readFacts reads api-2020.tsv: instance type → vCPUs and memory (MiB, 0
// unknown) as EC2 answered them.
func readFacts(path string) (map[string]fact, error) {
	out := map[string]fact{}
	err := eachFileRow(path, func(text string) error {
		c := strings.Split(text, "\t")
		if len(c) != 3 {
			return fmt.Errorf("bad row %q", text)
		}
		v, err1 := strconv.Atoi(c[1])
		m, err2 := strconv.Atoi(c[2])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("bad row %q", text)
		}
		out[c[0]] = fact{v, m}
		return nil
	})
	return out, err
}

var sized = regexp.MustCompile(`^(\d*)xlarge$`)

// vcpusOf applies the size rule vcpus.tsv's header states, then its
// exceptions.
func vcpusOf(name string, all []string, ex map[string]int) int {
	if v, ok := ex[name]; ok {
		return v
	}
	family, size, _ := strings.Cut(name, ".")
	switch size {
	case "nano", "micro", "small":
		if family == "t1" || family == "t2" || family == "m1" {
			return 1
		}
		return 2
	case "medium":
		switch family {
		case "t2", "t3", "t3a", "t4g", "c1":
			return 2
		}
		return 1
	case "large":
		return 2
	case "metal":
		best := 0
		for _, o := range all {
			if f, s, _ := strings.Cut(o, "."); f == family && s != "metal" {
				best = max(best, vcpusOf(o, nil, ex))
			}
		}
		return best
	}
	if n, ok := strings.CutPrefix(size, "metal-"); ok {
		size = strings.TrimSuffix(n, "xl") + "xlarge"
	}
	if m := sized.FindStringSubmatch(size); m != nil {
		k := 1
		if m[1] != "" {
			k, _ = strconv.Atoi(m[1])
		}
		return 4 * k
	}
	return 0
}

var graviton = regexp.MustCompile(`^[a-z]+\d+[a-z]*g[a-z]*$`)

// archOf is EC2's ArchitectureType for a type: Graviton families carry a g
// after their generation (m6g, c7gn, is4gen, t4g), plus a1; Mac hosts are
// x86_64_mac (mac1) or arm64_mac.
func archOf(name string) string {
	family, _, _ := strings.Cut(name, ".")
	switch {
	case family == "mac1":
		return "x86_64_mac"
	case strings.HasPrefix(family, "mac"):
		return "arm64_mac"
	case family == "a1":
		return "arm64"
	}
	base, _, _ := strings.Cut(family, "-")
	if graviton.MatchString(base) {
		return "arm64"
	}
	return "x86_64"
}

// smtOff lists the x86 families and types EC2 runs one thread per core on
// beyond the rule in threadsPerCore (EC2's DescribeInstanceTypes
// VCpuInfo.DefaultThreadsPerCore, as moto's instance_types.json recorded it).
var smtOff = map[string]bool{
	"t2": true, "c1": true, "m1": true, "m2": true, "g7": true, "u-6tb1.56xlarge": true,
}

// threadsPerCore is EC2's default threads per core: one on Graviton and
// Apple silicon (but mac2.metal reports 4 cores of 2 threads), on single-vCPU
// types, on HPC types, on AMD families from the 7th generation (c7a, m8a,
// m8azn, x8aedz, …) and on smtOff's list; two elsewhere.
func threadsPerCore(name, arch string, vcpus int) int {
	family, _, _ := strings.Cut(name, ".")
	switch {
	case name == "mac2.metal":
		return 2
	case vcpus == 1, arch == "arm64", arch == "arm64_mac", smtOff[family], smtOff[name]:
		return 1
	}
	p := familyParts.FindStringSubmatch(family)
	if p == nil {
		return 2
	}
	gen, _ := strconv.Atoi(p[2])
	if p[1] == "hpc" || (gen >= 7 && strings.HasPrefix(p[3], "a")) {
		return 1
	}
	return 2
}

// amdAccelerated lists the accelerated x86 families whose host processor
// is AMD's although their name carries no a (EC2's
// ProcessorInfo.Manufacturer, as moto's instance_types.json recorded it).
var amdAccelerated = map[string]bool{
	"f2": true, "g5": true, "g6": true, "g6e": true, "g6f": true, "gr6": true, "gr6f": true,
	"inf2": true, "p5": true, "p5e": true,
}

// manufacturerOf is EC2's ProcessorInfo.Manufacturer: AWS for Graviton,
// Apple for Apple silicon Macs, AMD where the letters after the generation
// carry an a (m5a, c7a, hpc6a, g4ad) and on amdAccelerated's list, Intel
// elsewhere (mac1 too).
func manufacturerOf(name, arch string) string {
	family, _, _ := strings.Cut(name, ".")
	switch {
	case arch == "arm64":
		return "AWS"
	case arch == "arm64_mac":
		return "Apple"
	case amdAccelerated[family]:
		return "AMD"
	}
	if p := familyParts.FindStringSubmatch(family); p != nil && strings.Contains(p[3], "a") {
		return "AMD"
	}
	return "Intel"
}
