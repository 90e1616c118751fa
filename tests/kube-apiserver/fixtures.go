package main

// Fixture loading: YAML or JSON documents (Lists contribute their items)
// created through the API, in dependency order, with their status written
// through the status subresource.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// loadWorkers is how many objects are created at once.
const loadWorkers = 24

// fixture is one object with the file it came from.
type fixture struct {
	file string
	obj  *unstructured.Unstructured
}

func (f fixture) describe() string {
	name := f.obj.GetName()
	if ns := f.obj.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return fmt.Sprintf("fixture %s: %s %s", f.file, f.obj.GetKind(), name)
}

// serverOwnedMetadata is stripped from every fixture before it is sent.
var serverOwnedMetadata = []string{
	"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
	"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
}

// readFixtures parses every file; an error names the file and document.
func readFixtures(files []string) ([]fixture, error) {
	var out []fixture
	for _, file := range files {
		objs, err := readFixtureFile(file)
		if err != nil {
			return nil, fmt.Errorf("fixture %s: %w", file, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

func readFixtureFile(file string) ([]fixture, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []fixture
	add := func(doc int, m map[string]interface{}) error {
		obj := &unstructured.Unstructured{Object: m}
		if obj.GetAPIVersion() == "" || obj.GetKind() == "" {
			return fmt.Errorf("document %d: an object without apiVersion or kind", doc)
		}
		if obj.GetName() == "" && obj.GetGenerateName() == "" {
			return fmt.Errorf("document %d: %s without metadata.name", doc, obj.GetKind())
		}
		if md, ok := m["metadata"].(map[string]interface{}); ok {
			for _, field := range serverOwnedMetadata {
				delete(md, field)
			}
		}
		out = append(out, fixture{file: file, obj: obj})
		return nil
	}
	decoder := yaml.NewYAMLOrJSONDecoder(f, 1<<20)
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var m map[string]interface{}
		// util/json keeps integers as int64, as the API machinery expects.
		if err := utiljson.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(m) == 0 {
			continue
		}
		kind, _ := m["kind"].(string)
		items, isList := m["items"].([]interface{})
		if !isList || !strings.HasSuffix(kind, "List") {
			if err := add(doc, m); err != nil {
				return nil, err
			}
			continue
		}
		listAPIVersion, _ := m["apiVersion"].(string)
		for i, item := range items {
			im, ok := item.(map[string]interface{})
			if !ok {
				return nil, fmt.Errorf("document %d: items[%d] is not an object", doc, i)
			}
			// Typed lists (PodList) leave kind and apiVersion off their items.
			if _, ok := im["kind"]; !ok && kind != "List" {
				im["kind"] = strings.TrimSuffix(kind, "List")
			}
			if _, ok := im["apiVersion"]; !ok {
				im["apiVersion"] = listAPIVersion
			}
			if err := add(doc, im); err != nil {
				return nil, fmt.Errorf("items[%d]: %w", i, err)
			}
		}
	}
}

// loader creates fixtures through the API.
type loader struct {
	config    *rest.Config
	dyn       dynamic.Interface
	mapper    meta.RESTMapper
	hasStatus sets.Set[schema.GroupVersionResource]

	mu               sync.Mutex
	namespaceStatus  []func(context.Context) error // written last
	namespaceFixture map[string]fixture
}

func newLoader(config *rest.Config) (*loader, error) {
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	l := &loader{config: config, dyn: dyn}
	return l, l.refresh()
}

// refresh re-reads discovery: the REST mapping and which resources have a
// status subresource. Groups whose discovery fails (an unavailable
// aggregated API) are left out.
func (l *loader) refresh() error {
	disc, err := discovery.NewDiscoveryClientForConfig(l.config)
	if err != nil {
		return err
	}
	groups, err := restmapper.GetAPIGroupResources(disc)
	if err != nil && groups == nil {
		return fmt.Errorf("discovery: %w", err)
	}
	l.mapper = restmapper.NewDiscoveryRESTMapper(groups)
	l.hasStatus = sets.New[schema.GroupVersionResource]()
	for _, g := range groups {
		for version, resources := range g.VersionedResources {
			for _, r := range resources {
				if plural, ok := strings.CutSuffix(r.Name, "/status"); ok {
					l.hasStatus.Insert(schema.GroupVersionResource{Group: g.Group.Name, Version: version, Resource: plural})
				}
			}
		}
	}
	return nil
}

var (
	namespaceKind  = schema.GroupKind{Kind: "Namespace"}
	crdKind        = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	apiServiceKind = schema.GroupKind{Group: "apiregistration.k8s.io", Kind: "APIService"}
)

// load creates all fixtures: namespaces, then CRDs (waiting until each is
// established and served), then APIServices, then everything else;
// namespace status is written last, so that no phase written there
// (Terminating) turns away the objects that belong in the namespace.
func (l *loader) load(ctx context.Context, fixtures []fixture) error {
	phases := [][]fixture{nil, nil, nil, nil}
	for _, f := range fixtures {
		switch f.obj.GroupVersionKind().GroupKind() {
		case namespaceKind:
			phases[0] = append(phases[0], f)
		case crdKind:
			phases[1] = append(phases[1], f)
		case apiServiceKind:
			phases[2] = append(phases[2], f)
		default:
			phases[3] = append(phases[3], f)
		}
	}
	if err := l.createAll(ctx, phases[0]); err != nil {
		return err
	}
	if len(phases[1]) > 0 {
		if err := l.createAll(ctx, phases[1]); err != nil {
			return err
		}
		for _, f := range phases[1] {
			if err := l.waitForCRD(ctx, f); err != nil {
				return err
			}
		}
		if err := l.refresh(); err != nil {
			return err
		}
	}
	if len(phases[2]) > 0 {
		if err := l.createAll(ctx, phases[2]); err != nil {
			return err
		}
		if err := l.refresh(); err != nil {
			return err
		}
	}
	if err := l.createAll(ctx, phases[3]); err != nil {
		return err
	}
	for _, write := range l.namespaceStatus {
		if err := write(ctx); err != nil {
			return err
		}
	}
	return nil
}

// createAll creates fixtures with loadWorkers at once; the first error
// stops the rest.
func (l *loader) createAll(ctx context.Context, fixtures []fixture) error {
	if len(fixtures) == 0 {
		return nil
	}
	started := time.Now()
	defer func() {
		klog.InfoS("kq-apiserver created fixtures", "objects", len(fixtures), "kind", fixtures[0].obj.GetKind(), "duration", time.Since(started))
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan fixture)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(loadWorkers, len(fixtures)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				if err := l.create(ctx, f); err != nil {
					errOnce.Do(func() {
						firstErr = err
						cancel()
					})
				}
			}
		}()
	}
feed:
	for _, f := range fixtures {
		select {
		case work <- f:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// oneLine keeps an API error on the harness's single error line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func (l *loader) create(ctx context.Context, f fixture) error {
	obj := f.obj.DeepCopy()
	gvk := obj.GroupVersionKind()
	mapping, err := l.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s: the server serves no %s in %s: %s", f.describe(), gvk.Kind, gvk.GroupVersion(), oneLine(err))
	}
	var client dynamic.ResourceInterface
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj.SetNamespace("default")
			f.obj.SetNamespace("default")
		}
		client = l.dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	} else {
		obj.SetNamespace("")
		client = l.dyn.Resource(mapping.Resource)
	}
	fixUp(obj)
	// A pod's ephemeral containers cannot be set on create, only through
	// the ephemeralcontainers subresource afterwards.
	var ephemeral []interface{}
	if gvk.GroupKind() == (schema.GroupKind{Kind: "Pod"}) {
		ephemeral, _, _ = unstructured.NestedSlice(obj.Object, "spec", "ephemeralContainers")
		unstructured.RemoveNestedField(obj.Object, "spec", "ephemeralContainers")
	}
	status, withStatus := obj.Object["status"]
	withStatus = withStatus && status != nil && l.hasStatus.Has(mapping.Resource)
	// CRDs and APIServices have their status from controllers that run
	// in this process; a fixture's must not contradict them.
	if gk := gvk.GroupKind(); gk == crdKind || gk == apiServiceKind {
		withStatus = false
	}
	opts := metav1.CreateOptions{FieldManager: "kq-apiserver"}
	created, err := client.Create(ctx, obj, opts)
	if err != nil && !apierrors.IsAlreadyExists(err) && obj.GetName() != "" {
		// Some creates fail on another check before the name's
		// (default/kubernetes: "IP already allocated"): an object that
		// exists is updated all the same.
		if _, gerr := client.Get(ctx, obj.GetName(), metav1.GetOptions{}); gerr == nil {
			err = apierrors.NewAlreadyExists(mapping.Resource.GroupResource(), obj.GetName())
		}
	}
	if apierrors.IsAlreadyExists(err) && obj.GetName() != "" {
		created, err = l.updateExisting(ctx, client, obj)
		if err != nil {
			return fmt.Errorf("%s: it exists and updating it failed: %s", f.describe(), oneLine(err))
		}
	} else if err != nil {
		return fmt.Errorf("%s: %s", f.describe(), oneLine(err))
	}
	if len(ephemeral) > 0 {
		if err := unstructured.SetNestedSlice(created.Object, ephemeral, "spec", "ephemeralContainers"); err != nil {
			return fmt.Errorf("%s: %s", f.describe(), oneLine(err))
		}
		created, err = client.Update(ctx, created, metav1.UpdateOptions{FieldManager: "kq-apiserver"}, "ephemeralcontainers")
		if err != nil {
			return fmt.Errorf("%s: writing its ephemeral containers failed: %s", f.describe(), oneLine(err))
		}
	}
	if !withStatus {
		return nil
	}
	write := func(ctx context.Context) error {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			created.Object["status"] = status
			_, err := client.UpdateStatus(ctx, created, metav1.UpdateOptions{FieldManager: "kq-apiserver"})
			if apierrors.IsConflict(err) {
				latest, gerr := client.Get(ctx, created.GetName(), metav1.GetOptions{})
				if gerr != nil {
					return gerr
				}
				created = latest
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: writing its status failed: %s", f.describe(), oneLine(err))
		}
		return nil
	}
	if gvk.GroupKind() == namespaceKind {
		l.mu.Lock()
		l.namespaceStatus = append(l.namespaceStatus, write)
		l.mu.Unlock()
		return nil
	}
	return write(ctx)
}

// fixUp changes what a fixture says where the API would otherwise refuse
// an object read from a live cluster (besides the stripped server-owned
// metadata and the default namespace):
//
//   - A Job's spec.selector and template labels name its old uid
//     (controller-uid), which the server checks against the new uid
//     unless spec.manualSelector is true; the harness sets it to true
//     (from false or unset), so the selector and labels are stored as
//     given.
func fixUp(obj *unstructured.Unstructured) {
	if obj.GroupVersionKind().GroupKind() == (schema.GroupKind{Group: "batch", Kind: "Job"}) {
		_, hasSelector, _ := unstructured.NestedMap(obj.Object, "spec", "selector")
		manual, _, _ := unstructured.NestedBool(obj.Object, "spec", "manualSelector")
		if hasSelector && !manual {
			_ = unstructured.SetNestedField(obj.Object, true, "spec", "manualSelector")
		}
	}
}

// updateExisting replaces an object the server already has (default,
// kube-system, default/kubernetes...) with the fixture's.
func (l *loader) updateExisting(ctx context.Context, client dynamic.ResourceInterface, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	var updated *unstructured.Unstructured
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		existing, err := client.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		obj.SetResourceVersion(existing.GetResourceVersion())
		updated, err = client.Update(ctx, obj, metav1.UpdateOptions{FieldManager: "kq-apiserver"})
		return err
	})
	return updated, err
}

// waitForCRD waits until the CRD is Established and discovery serves each
// of its served versions.
func (l *loader) waitForCRD(ctx context.Context, f fixture) error {
	crds := l.dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	disc, err := discovery.NewDiscoveryClientForConfig(l.config)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for {
		ready, why := func() (bool, string) {
			crd, err := crds.Get(ctx, f.obj.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, oneLine(err)
			}
			established := false
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conditions {
				cm, _ := c.(map[string]interface{})
				if cm["type"] == "Established" && cm["status"] == "True" {
					established = true
				}
			}
			if !established {
				return false, "not Established"
			}
			group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
			plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
			versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
			for _, v := range versions {
				vm, _ := v.(map[string]interface{})
				if served, _ := vm["served"].(bool); !served {
					continue
				}
				name, _ := vm["name"].(string)
				gv := group + "/" + name
				list, err := disc.ServerResourcesForGroupVersion(gv)
				if err != nil {
					return false, "discovery of " + gv + ": " + oneLine(err)
				}
				found := false
				for _, r := range list.APIResources {
					found = found || r.Name == plural
				}
				if !found {
					return false, "discovery of " + gv + " does not list " + plural
				}
			}
			return true, ""
		}()
		if ready {
			return nil
		}
		last = why
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not served after 2 minutes: %s", f.describe(), last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
