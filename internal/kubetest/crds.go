package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// crdKind and crdResource name CustomResourceDefinitions.
var (
	crdKind     = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// InstallGatewayAPI applies the Gateway API standard CRDs that
// scripts/kube-testenv.sh fetched, with the ValidatingAdmissionPolicy that
// ships beside them (server-side apply, field manager kubetest), and waits
// until each CRD is Established. Applying them again is harmless. Nothing
// acts on Gateway API objects: there is no gateway controller.
func (e *Env) InstallGatewayAPI(t testing.TB) {
	t.Helper()
	dir, err := GatewayAPICRDs()
	if err != nil {
		t.Fatalf("kubetest: %v (%s)", err, buildHint)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	if err := e.apply(t.Context(), files); err != nil {
		t.Fatalf("kubetest: install Gateway API CRDs from %s: %v", dir, err)
	}
}

// apply applies every object in files, CRDs first, and waits until the
// CRDs are Established.
func (e *Env) apply(ctx context.Context, files []string) error {
	var crds, others []*unstructured.Unstructured
	for _, file := range files {
		objs, err := readObjects(file)
		if err != nil {
			return err
		}
		for _, obj := range objs {
			if obj.GroupVersionKind().GroupKind() == crdKind {
				crds = append(crds, obj)
			} else {
				others = append(others, obj)
			}
		}
	}
	dyn, err := dynamic.NewForConfig(e.config)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(e.client.Discovery()))
	for _, obj := range append(crds, others...) {
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		var r dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := obj.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			r = dyn.Resource(m.Resource).Namespace(ns)
		}
		if _, err := r.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "kubetest", Force: true}); err != nil {
			return fmt.Errorf("apply %s %s: %w", gvk.Kind, obj.GetName(), err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, crd := range crds {
		name := crd.GetName()
		if err := waitFor(ctx, "CRD "+name+" Established", e.procs, func(ctx context.Context) error {
			return crdEstablished(ctx, dyn.Resource(crdResource), name)
		}); err != nil {
			return err
		}
	}
	return nil
}

// readObjects decodes every non-empty document of a YAML file.
func readObjects(file string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", file, err)
		}
		if len(obj) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
}

// crdEstablished reports whether the CRD's Established condition is True.
func crdEstablished(ctx context.Context, crds dynamic.ResourceInterface, name string) error {
	obj, err := crds.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("CRD %s not found", name)
	}
	if err != nil {
		return err
	}
	conditions, _, err := unstructured.NestedSlice(obj.Object, "status", "conditions")
	if err != nil {
		return fmt.Errorf("CRD %s conditions: %w", name, err)
	}
	for _, c := range conditions {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return nil
		}
	}
	return fmt.Errorf("CRD %s is not Established yet", name)
}
