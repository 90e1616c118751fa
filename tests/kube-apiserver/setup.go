package main

// What the harness creates before the fixtures: the readiness wait, and
// the limited user's namespace and RBAC.

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// waitReady polls /readyz until it passes and the default namespace
// exists (fixtures default to it), failing at once if the server exits.
func waitReady(ctx context.Context, client kubernetes.Interface, serverDone <-chan error) error {
	deadline := time.Now().Add(3 * time.Minute)
	last := "no answer"
	for {
		status := 0
		result := client.CoreV1().RESTClient().Get().AbsPath("/readyz").Do(ctx)
		result.StatusCode(&status)
		if status == 200 {
			_, err := client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
			if err == nil {
				return nil
			}
			last = "namespace default: " + oneLine(err)
		} else if err := result.Error(); err != nil {
			last = oneLine(err)
		} else {
			last = fmt.Sprintf("/readyz answered %d", status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after 3 minutes: %s", last)
		}
		select {
		case err := <-serverDone:
			if err == nil {
				err = fmt.Errorf("it stopped")
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// createLimitedAccess makes namespace team-a, ClusterRole kq-reader (get,
// list, watch on everything) and RoleBinding team-a/kq-limited-reader,
// which grants it to user kq-limited in team-a only.
func createLimitedAccess(ctx context.Context, client kubernetes.Interface) error {
	create := func(what string, err error) error {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: %s", what, oneLine(err))
		}
		return nil
	}
	opts := metav1.CreateOptions{FieldManager: "kq-apiserver"}
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
	}, opts)
	if err := create("namespace team-a", err); err != nil {
		return err
	}
	_, err = client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "kq-reader"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"*"},
			Resources: []string{"*"},
			Verbs:     []string{"get", "list", "watch"},
		}},
	}, opts)
	if err := create("clusterrole kq-reader", err); err != nil {
		return err
	}
	_, err = client.RbacV1().RoleBindings("team-a").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kq-limited-reader", Namespace: "team-a"},
		Subjects: []rbacv1.Subject{{
			Kind:     rbacv1.UserKind,
			APIGroup: rbacv1.GroupName,
			Name:     "kq-limited",
		}},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "kq-reader"},
	}, opts)
	return create("rolebinding team-a/kq-limited-reader", err)
}
