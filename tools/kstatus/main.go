// Command kstatus prints the kstatus verdict (sigs.k8s.io/cli-utils/pkg/kstatus/status) for
// every live object of one resource in one namespace, one JSON object per line, sorted by
// name: what Flux's kustomize-controller and helm-controller wait on. Exit status 1 when
// Compute fails for an object (its line then has status Unknown and an error), 2 when the
// objects cannot be listed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
	// The version judged, so a caller can tell which state of the object this describes.
	ResourceVersion string `json:"resourceVersion"`
	Error           string `json:"error,omitempty"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "path to a kubeconfig")
	namespace := flag.String("namespace", "default", "namespace to list")
	resource := flag.String("resource", "hopperinstances.v1alpha1.hopper.dev", "resource.version.group")
	flag.Parse()

	gvr, _ := schema.ParseResourceArg(*resource)
	if gvr == nil {
		fail(fmt.Errorf("--resource %q is not resource.version.group", *resource))
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(err)
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		fail(err)
	}
	list, err := client.Resource(*gvr).Namespace(*namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		fail(err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].GetName() < list.Items[j].GetName() })

	out := json.NewEncoder(os.Stdout)
	failed := false
	for i := range list.Items {
		v := verdict{Name: list.Items[i].GetName(), ResourceVersion: list.Items[i].GetResourceVersion()}
		result, err := status.Compute(&list.Items[i])
		if err != nil {
			v.Status, v.Error, failed = "Unknown", err.Error(), true
		} else {
			v.Status, v.Message = result.Status.String(), result.Message
		}
		if err := out.Encode(v); err != nil {
			fail(err)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kstatus:", err)
	os.Exit(2)
}
