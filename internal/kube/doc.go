// Package kube gives discovery the Kubernetes metadata of the processes it
// selects: which pod, container and workload a container ID or pod UID
// (read from /proc/<pid>/cgroup) belongs to.
//
// One shared informer watches the pods of this node only (field selector
// spec.nodeName=$K8S_NODE_NAME) and indexes them by pod UID and by
// container ID. A transform strips each pod to what ebpfred reads (name,
// namespace, UID, labels, the resource.opentelemetry.io/ annotations and
// those selectors ask for, the controller reference, node, container names
// and IDs) before it is cached, so the cache stays at a few hundred bytes
// per pod. Deployments and CronJobs are one level further: a ReplicaSet's
// or Job's controller is fetched with one GET per ReplicaSet or Job of the
// node's pods, cached while a pod points at it; until then, or when RBAC
// refuses the GET, a Deployment is derived from the ReplicaSet name minus
// the pod-template-hash label. Lookups never wait on the API server.
//
// Without Kubernetes nothing here runs: with enable: false, or autodetect
// outside a pod (KUBERNETES_SERVICE_HOST unset, or no in-cluster
// configuration), New returns a nil *Store and no client is created.
//
// # What the DaemonSet needs
//
//	env:
//	  - name: K8S_NODE_NAME
//	    valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
//	hostPID: true      # discovery reads other processes' /proc entries
//
// and a ClusterRole bound to its ServiceAccount:
//
//	rules:
//	  - apiGroups: [""]
//	    resources: [pods]
//	    verbs: [list, watch]
//	  - apiGroups: [apps]
//	    resources: [replicasets]
//	    verbs: [get]   # optional: without it Deployments are derived from names
//	  - apiGroups: [batch]
//	    resources: [jobs]
//	    verbs: [get]   # optional: without it CronJobs are not known
//
// # Manual check on a real cluster
//
// The unit tests use client-go's fake clientset; this checks the real
// thing end to end. Deploy the collector as a DaemonSet with the above,
// kubernetes.enable true (or autodetect), a discovery.services entry
// {k8s_namespace: "^demo$"} and the debug exporter with verbosity:
// detailed. Then:
//
//	kubectl create namespace demo
//	kubectl -n demo create deployment web --image=nginx --port=80
//	kubectl -n demo rollout status deployment web
//	kubectl -n demo exec deploy/web -- sh -c 'for i in $(seq 20); do curl -s localhost >/dev/null; done'
//	kubectl -n demo get pod -o jsonpath='{.items[0].spec.nodeName} {.items[0].status.containerStatuses[0].containerID}'
//	kubectl -n <collector namespace> logs <collector pod on that node>
//
// The resource of web's spans and metrics must show service.name=web (the
// Deployment), service.namespace=demo, k8s.namespace.name=demo,
// k8s.pod.name, k8s.pod.uid, k8s.container.name=nginx, k8s.node.name,
// k8s.deployment.name=web, k8s.replicaset.name=web-<hash>, and container.id
// equal to the printed ID without its containerd:// prefix. Then:
//
//	kubectl -n demo patch deployment web -p '{"spec":{"template":{"metadata":{"annotations":{"resource.opentelemetry.io/service.name":"storefront"}}}}}'
//
// makes the new pod report service.name=storefront. Removing "get
// replicasets" from the ClusterRole and restarting the collector gives one
// warning that Deployments are guessed from names, and service.name stays
// web. Nothing of kube-system is reported (default_exclude_services) unless
// that list is emptied.
package kube
