package app

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/enilab/enilab/scenario"
)

func validate(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageErr("validate: name at least one scenario file")
	}
	bad := 0
	for _, file := range args {
		if strings.HasPrefix(file, "-") {
			return usageErr("validate: unknown flag %s", file)
		}
		vs, err := scenario.LoadVariants(file)
		var probs scenario.Problems
		switch {
		case errors.As(err, &probs):
			bad++
			printProblems(stdout, file, probs)
		case err != nil:
			bad++
			fmt.Fprintf(stdout, "%s: %v\n", file, err)
		default:
			sc := vs[0].Scenario
			variants := ""
			if len(vs) > 1 {
				variants = fmt.Sprintf(", %d variants", len(vs))
			}
			fmt.Fprintf(stdout, "%s: ok (%s: %d node%s, %d step%s%s)\n", file, sc.Name, len(sc.Nodes), plural(len(sc.Nodes)), len(sc.Steps), plural(len(sc.Steps)), variants)
			printWarnings(stdout, variantWarnings(vs))
		}
	}
	if bad > 0 {
		return &exitError{code: ExitUsage, err: fmt.Errorf("%d of %d files invalid", bad, len(args)), quiet: true}
	}
	return nil
}

// printProblems lists an invalid file's problems, one a line.
func printProblems(w io.Writer, file string, probs scenario.Problems) {
	fmt.Fprintf(w, "%s: %d problem%s\n", file, len(probs), plural(len(probs)))
	for _, p := range probs {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

// printWarnings lists what the VPC CNI will do differently from what the
// file seems to ask; warnings never fail a command.
func printWarnings(w io.Writer, warns scenario.Problems) {
	for _, p := range warns {
		fmt.Fprintf(w, "WARNING: %s\n", p)
	}
}

// variantWarnings are the variants' warnings, each once.
func variantWarnings(vs []scenario.Variant) scenario.Problems {
	var out scenario.Problems
	for _, v := range vs {
		for _, w := range v.Scenario.Warnings {
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	return out
}
