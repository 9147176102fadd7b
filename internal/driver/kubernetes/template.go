package kubernetes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// TemplateFromManifest is the spec.template of the first Deployment in a
// manifest file (YAML or JSON, one or more documents). Unknown fields are
// errors, so that a misspelt key is not silently dropped.
func TemplateFromManifest(data []byte) (corev1.PodTemplateSpec, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return corev1.PodTemplateSpec{}, errors.New("no Deployment in the manifest")
			}
			return corev1.PodTemplateSpec{}, fmt.Errorf("document %d: %w", n, err)
		}
		var head struct{ Kind string }
		if len(raw) == 0 || json.Unmarshal(raw, &head) != nil || head.Kind != "Deployment" {
			continue
		}
		var dep appsv1.Deployment
		if err := yaml.UnmarshalStrict(raw, &dep); err != nil {
			return corev1.PodTemplateSpec{}, fmt.Errorf("document %d (Deployment): %w", n, err)
		}
		return dep.Spec.Template, nil
	}
}

// TemplateFromMap is a pod template written inline as YAML (a Deployment's
// spec.template), as the config decoded it. Unknown fields are errors.
func TemplateFromMap(m map[string]any) (corev1.PodTemplateSpec, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	var t corev1.PodTemplateSpec
	if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	return t, nil
}
