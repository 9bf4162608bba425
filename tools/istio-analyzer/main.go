// istio-analyze runs Istio's configuration analyzers (the ones `istioctl analyze` runs) against a
// live cluster and prints the messages as JSON lines. It is a thin program on Istio's analysis
// packages because istioctl itself takes about twice as long to build.
//
// Usage: istio-analyze --kubeconfig <file> [--namespace <ns>] [--istio-namespace istio-system]
// Output: one JSON object per message: {"code","level","origin","message"}; exit 0 when the
// analysis ran (whatever it found), 1 when it could not run.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"istio.io/istio/pkg/config/analysis/analyzers"
	"istio.io/istio/pkg/config/analysis/local"
	"istio.io/istio/pkg/config/resource"
	"istio.io/istio/pkg/kube"
	_ "istio.io/istio/pkg/kube/kclient" // registers the CRD watcher kube.EnableCrdWatcher needs
	"istio.io/istio/pkg/log"
)

type message struct {
	Code    string `json:"code"`
	Level   string `json:"level"`
	Origin  string `json:"origin"`
	Message string `json:"message"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster to analyze")
	namespace := flag.String("namespace", "", "namespace to report on (default: all)")
	istioNamespace := flag.String("istio-namespace", "istio-system", "Istio's control-plane namespace")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	if *kubeconfig == "" {
		fail(fmt.Errorf("--kubeconfig is required"))
	}

	// Istio's packages log to stdout, where the messages go: errors only, to stderr.
	logOptions := log.DefaultOptions()
	logOptions.OutputPaths = []string{"stderr"}
	logOptions.SetDefaultOutputLevel(log.OverrideScopeName, log.ErrorLevel)
	if err := log.Configure(logOptions); err != nil {
		fail(err)
	}

	client, err := kube.NewCLIClient(kube.BuildClientCmd(*kubeconfig, ""))
	if err != nil {
		fail(err)
	}
	sa := local.NewIstiodAnalyzer(analyzers.AllCombined(), resource.Namespace(*namespace),
		resource.Namespace(*istioNamespace), nil)
	sa.AddRunningKubeSourceWithRevision(kube.EnableCrdWatcher(client), "default", false)

	cancel := make(chan struct{})
	timer := time.AfterFunc(*timeout, func() { close(cancel) })
	result, err := sa.Analyze(cancel)
	timer.Stop()
	if err != nil {
		fail(err)
	}
	out := json.NewEncoder(os.Stdout)
	for i := range result.Messages {
		m := &result.Messages[i]
		if err := out.Encode(message{
			Code:    m.Type.Code(),
			Level:   m.Type.Level().String(),
			Origin:  m.Origin(),
			Message: fmt.Sprintf(m.Type.Template(), m.Parameters...),
		}); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "istio-analyze: %v\n", err)
	os.Exit(1)
}
