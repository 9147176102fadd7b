package standin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ecsTarget prefixes X-Amz-Target of every ECS call (AWS JSON 1.1).
const ecsTarget = "AmazonEC2ContainerServiceV20141113."

type taskDef struct {
	family   string
	revision int
	arn      string
	body     map[string]any // the RegisterTaskDefinition input, without tags
}

func (td *taskDef) images() []string {
	var out []string
	defs, _ := td.body["containerDefinitions"].([]any)
	for _, d := range defs {
		if m, ok := d.(map[string]any); ok {
			if img, ok := m["image"].(string); ok {
				out = append(out, img)
			}
		}
	}
	return out
}

func (td *taskDef) json() map[string]any {
	out := map[string]any{}
	for k, v := range td.body {
		out[k] = v
	}
	out["taskDefinitionArn"], out["family"], out["revision"], out["status"] = td.arn, td.family, td.revision, "ACTIVE"
	return out
}

type deployment struct {
	id, status, taskDef string
	desired             int
	created             time.Time
	rollout             string
}

type task struct {
	arn, taskDef, deployment  string
	n                         int
	addr                      string
	lastStatus, desiredStatus string
	startAt, healthyAt        time.Time
	stoppedAt                 time.Time
	stoppedReason, stopCode   string
	containerReason           string
}

type loadBalancer struct {
	TargetGroupArn string `json:"targetGroupArn"`
	ContainerName  string `json:"containerName"`
	ContainerPort  int    `json:"containerPort"`
}

type service struct {
	name, arn, cluster string
	taskDef            string
	desired            int
	deployments        []*deployment
	lbs                []loadBalancer
	tasks              []*task
	launched           int
	created            time.Time
	stale              map[string]any
	staleLeft          int
}

type failure struct{ stopCode, reason, containerReason string }

// AddTaskDefinition registers revision 1 of family with one container
// (name, image) and returns its ARN.
func (s *Server) AddTaskDefinition(family, container, image string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.register(family, map[string]any{
		"family": family,
		"containerDefinitions": []any{map[string]any{
			"name": container, "image": image, "essential": true, "memory": 512,
			"portMappings": []any{map[string]any{"containerPort": 8080, "protocol": "tcp"}},
		}},
		"networkMode":             "awsvpc",
		"requiresCompatibilities": []any{"FARGATE"},
		"cpu":                     "256",
		"memory":                  "512",
	}).arn
}

func (s *Server) register(family string, body map[string]any) *taskDef {
	revs := s.families[family]
	td := &taskDef{family: family, revision: len(revs) + 1, body: body}
	td.arn = s.arn("ecs", fmt.Sprintf("task-definition/%s:%d", family, td.revision))
	s.families[family] = append(revs, td)
	return td
}

// AddService creates service in cluster running taskDef with desired
// tasks, registered in targetGroup on the container's port 8080. Its
// first deployment is complete once its tasks are healthy.
func (s *Server) AddService(cluster, name, taskDef string, desired int, targetGroup, container string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	svc := &service{
		name: name, arn: s.arn("ecs", "service/"+cluster+"/"+name), cluster: cluster,
		taskDef: taskDef, desired: desired, created: now,
		lbs: []loadBalancer{{TargetGroupArn: targetGroup, ContainerName: container, ContainerPort: 8080}},
	}
	svc.deployments = []*deployment{{id: "ecs-svc/" + s.id(), status: "PRIMARY", taskDef: taskDef, desired: desired, created: now, rollout: "IN_PROGRESS"}}
	s.services[name] = svc
	s.svcOrder = append(s.svcOrder, name)
}

// FailImage makes every task whose task definition has image stop on
// start with stopCode and stoppedReason (and the container's reason),
// as ECS does for CannotPullContainerError (stopCode TaskFailedToStart)
// or an essential container that exits (EssentialContainerExited).
func (s *Server) FailImage(image, stopCode, reason, containerReason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[image] = failure{stopCode, reason, containerReason}
}

// Service is what the stand-in holds of a service: its task definition,
// desired and running counts, and its deployments.
type Service struct {
	TaskDefinition       string
	Desired, Running     int
	Deployments          int
	Images               []string
	TaskDefinitionFamily string
}

// ServiceState reads a service (zero when missing).
func (s *Server) ServiceState(name string) Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step()
	svc := s.services[name]
	if svc == nil {
		return Service{}
	}
	out := Service{TaskDefinition: svc.taskDef, Desired: svc.desired, Deployments: len(svc.deployments)}
	for _, t := range svc.tasks {
		if t.lastStatus == "RUNNING" {
			out.Running++
		}
	}
	if td := s.taskDef(svc.taskDef); td != nil {
		out.Images, out.TaskDefinitionFamily = td.images(), td.family
	}
	return out
}

// Revisions is the number of revisions of family.
func (s *Server) Revisions(family string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.families[family])
}

// taskDef finds a task definition by ARN, family:revision or family
// (the latest). Locked.
func (s *Server) taskDef(ref string) *taskDef {
	name := ref
	if i := strings.LastIndex(ref, "task-definition/"); i >= 0 {
		name = ref[i+len("task-definition/"):]
	}
	family, rev, hasRev := strings.Cut(name, ":")
	revs := s.families[family]
	if len(revs) == 0 {
		return nil
	}
	if !hasRev {
		return revs[len(revs)-1]
	}
	n, err := strconv.Atoi(rev)
	if err != nil || n < 1 || n > len(revs) {
		return nil
	}
	return revs[n-1]
}

// step advances every service's tasks to now. Locked.
func (s *Server) step() {
	now := s.now()
	for _, name := range s.svcOrder {
		s.stepService(s.services[name], now)
	}
}

func (s *Server) stepService(svc *service, now time.Time) {
	primary := svc.deployments[0]
	for _, t := range svc.tasks {
		switch {
		case t.lastStatus == "PENDING" && !now.Before(t.startAt):
			if f, bad := s.fails(t.taskDef); bad {
				s.stopTask(svc, t, now, f.stopCode, f.reason, f.containerReason)
				continue
			}
			t.lastStatus, t.healthyAt = "RUNNING", now.Add(s.opts.HealthyDelay)
			s.registerTarget(svc, t)
		case t.lastStatus == "RUNNING" && !now.Before(t.healthyAt):
			s.setTarget(svc, t, "healthy", "")
		}
	}
	// The primary deployment keeps its desired count of tasks.
	live := 0
	for _, t := range svc.tasks {
		if t.deployment == primary.id && t.desiredStatus == "RUNNING" {
			live++
			if live > primary.desired {
				s.stopTask(svc, t, now, "ServiceSchedulerInitiated",
					"Scaling activity initiated by (deployment "+primary.id+")", "")
			}
		}
	}
	for ; live < primary.desired; live++ {
		svc.launched++
		n := svc.launched
		addr := fmt.Sprintf("10.0.%d.%d:8080", s.index(svc.name), n)
		if s.opts.Addr != nil {
			addr = s.opts.Addr(svc.name, n)
		}
		svc.tasks = append(svc.tasks, &task{
			arn: s.arn("ecs", "task/"+svc.cluster+"/"+s.id()), taskDef: primary.taskDef, deployment: primary.id,
			n: n, addr: addr, lastStatus: "PENDING", desiredStatus: "RUNNING", startAt: now.Add(s.opts.StartDelay),
		})
	}
	// Once the primary's tasks are all healthy, the older deployments go.
	healthy := 0
	for _, t := range svc.tasks {
		if t.deployment == primary.id && t.lastStatus == "RUNNING" && s.targetState(svc, t) == "healthy" {
			healthy++
		}
	}
	if healthy >= primary.desired {
		primary.rollout = "COMPLETED"
		for _, t := range svc.tasks {
			if t.deployment != primary.id && t.desiredStatus == "RUNNING" {
				s.stopTask(svc, t, now, "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment "+primary.id+")", "")
			}
		}
		svc.deployments = svc.deployments[:1]
	}
	// Keep the stopped tasks bounded.
	if stopped := 0; len(svc.tasks) > 64 {
		kept := svc.tasks[:0]
		for i, t := range svc.tasks {
			if t.lastStatus == "STOPPED" && stopped < len(svc.tasks)-64 && i < len(svc.tasks)-8 {
				stopped++
				continue
			}
			kept = append(kept, t)
		}
		svc.tasks = kept
	}
}

func (s *Server) index(name string) int {
	for i, n := range s.svcOrder {
		if n == name {
			return i + 1
		}
	}
	return 0
}

func (s *Server) fails(taskDef string) (failure, bool) {
	td := s.taskDef(taskDef)
	if td == nil {
		return failure{}, false
	}
	for _, img := range td.images() {
		if f, ok := s.failing[img]; ok {
			return f, true
		}
	}
	return failure{}, false
}

func (s *Server) stopTask(svc *service, t *task, now time.Time, code, reason, containerReason string) {
	t.lastStatus, t.desiredStatus, t.stoppedAt = "STOPPED", "STOPPED", now
	t.stopCode, t.stoppedReason, t.containerReason = code, reason, containerReason
	s.deregisterTarget(svc, t)
}

// snapshot is the service as DescribeServices answers it. Locked.
func (s *Server) snapshot(svc *service) map[string]any {
	running, pending := 0, 0
	perDep := map[string][2]int{}
	for _, t := range svc.tasks {
		c := perDep[t.deployment]
		switch t.lastStatus {
		case "RUNNING":
			running++
			c[0]++
		case "PENDING":
			pending++
			c[1]++
		}
		perDep[t.deployment] = c
	}
	var deps []any
	for _, d := range svc.deployments {
		c := perDep[d.id]
		deps = append(deps, map[string]any{
			"id": d.id, "status": d.status, "taskDefinition": d.taskDef, "desiredCount": d.desired,
			"runningCount": c[0], "pendingCount": c[1], "rolloutState": d.rollout,
			"createdAt": epoch(d.created), "updatedAt": epoch(d.created),
		})
	}
	return map[string]any{
		"serviceName": svc.name, "serviceArn": svc.arn, "clusterArn": s.arn("ecs", "cluster/"+svc.cluster),
		"status": "ACTIVE", "desiredCount": svc.desired, "runningCount": running, "pendingCount": pending,
		"taskDefinition": svc.taskDef, "deployments": deps, "loadBalancers": svc.lbs,
		"launchType": "FARGATE", "createdAt": epoch(svc.created),
	}
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (s *Server) serveECS(w http.ResponseWriter, op string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admit("ecs:" + op) {
		ecsError(w, "ThrottlingException", "Rate exceeded")
		return
	}
	s.step()
	var in struct {
		Cluster        string   `json:"cluster"`
		Services       []string `json:"services"`
		Service        string   `json:"service"`
		TaskDefinition *string  `json:"taskDefinition"`
		DesiredCount   *int     `json:"desiredCount"`
		ServiceName    string   `json:"serviceName"`
		DesiredStatus  string   `json:"desiredStatus"`
		Tasks          []string `json:"tasks"`
		Family         string   `json:"family"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		ecsError(w, "ClientException", "invalid JSON: "+err.Error())
		return
	}
	var out any
	switch op {
	case "DescribeServices":
		var svcs, fails []any
		for _, name := range in.Services {
			svc := s.service(in.Cluster, name)
			if svc == nil {
				fails = append(fails, map[string]any{"arn": s.arn("ecs", "service/"+in.Cluster+"/"+name), "reason": "MISSING"})
				continue
			}
			if svc.staleLeft > 0 {
				svc.staleLeft--
				svcs = append(svcs, svc.stale)
				continue
			}
			svcs = append(svcs, s.snapshot(svc))
		}
		out = map[string]any{"services": svcs, "failures": fails}
	case "DescribeTaskDefinition":
		td := s.taskDef(deref(in.TaskDefinition))
		if td == nil {
			ecsError(w, "ClientException", "Unable to describe task definition.")
			return
		}
		out = map[string]any{"taskDefinition": td.json()}
	case "RegisterTaskDefinition":
		var raw map[string]any
		_ = json.Unmarshal(body, &raw)
		delete(raw, "tags")
		if in.Family == "" {
			ecsError(w, "ClientException", "Family is required.")
			return
		}
		if defs, _ := raw["containerDefinitions"].([]any); len(defs) == 0 {
			ecsError(w, "ClientException", "Container list cannot be empty.")
			return
		}
		out = map[string]any{"taskDefinition": s.register(in.Family, raw).json()}
	case "UpdateService":
		svc := s.service(in.Cluster, in.Service)
		if svc == nil {
			ecsError(w, "ServiceNotFoundException", "Service not found.")
			return
		}
		before := s.snapshot(svc)
		if in.TaskDefinition != nil {
			td := s.taskDef(*in.TaskDefinition)
			if td == nil {
				ecsError(w, "ClientException", "TaskDefinition not found.")
				return
			}
			if td.arn != svc.taskDef {
				svc.taskDef = td.arn
				svc.deployments[0].status = "ACTIVE"
				svc.deployments = append([]*deployment{{id: "ecs-svc/" + s.id(), status: "PRIMARY", taskDef: td.arn,
					desired: svc.desired, created: s.now(), rollout: "IN_PROGRESS"}}, svc.deployments...)
			}
		}
		if in.DesiredCount != nil {
			svc.desired = *in.DesiredCount
			svc.deployments[0].desired = *in.DesiredCount
		}
		svc.stale, svc.staleLeft = before, s.opts.StaleReads
		desired := -1
		if in.DesiredCount != nil {
			desired = *in.DesiredCount
		}
		s.record(Call{Action: "ecs:UpdateService", Service: svc.name, Desired: desired})
		s.stepService(svc, s.now())
		out = map[string]any{"service": s.snapshot(svc)}
	case "ListTasks":
		svc := s.service(in.Cluster, in.ServiceName)
		if svc == nil {
			ecsError(w, "ServiceNotFoundException", "Service not found.")
			return
		}
		want := in.DesiredStatus
		if want == "" {
			want = "RUNNING"
		}
		arns := []string{}
		for _, t := range svc.tasks {
			if t.desiredStatus == want {
				arns = append(arns, t.arn)
			}
		}
		out = map[string]any{"taskArns": arns}
	case "DescribeTasks":
		var tasks []any
		for _, arn := range in.Tasks {
			for _, name := range s.svcOrder {
				for _, t := range s.services[name].tasks {
					if t.arn == arn {
						tasks = append(tasks, s.taskJSON(s.services[name], t))
					}
				}
			}
		}
		out = map[string]any{"tasks": tasks, "failures": []any{}}
	default:
		ecsError(w, "UnknownOperationException", "the stand-in does not implement "+op)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) taskJSON(svc *service, t *task) map[string]any {
	m := map[string]any{
		"taskArn": t.arn, "taskDefinitionArn": t.taskDef, "lastStatus": t.lastStatus, "desiredStatus": t.desiredStatus,
		"group": "service:" + svc.name, "startedBy": t.deployment, "clusterArn": s.arn("ecs", "cluster/"+svc.cluster),
	}
	name := ""
	if len(svc.lbs) > 0 {
		name = svc.lbs[0].ContainerName
	}
	c := map[string]any{"name": name, "lastStatus": t.lastStatus}
	if t.lastStatus == "STOPPED" {
		m["stoppedReason"], m["stopCode"], m["stoppedAt"] = t.stoppedReason, t.stopCode, epoch(t.stoppedAt)
		if t.containerReason != "" {
			c["reason"] = t.containerReason
		}
	}
	m["containers"] = []any{c}
	return m
}

func (s *Server) service(cluster, name string) *service {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndex(cluster, "/"); i >= 0 {
		cluster = cluster[i+1:]
	}
	svc := s.services[name]
	if svc == nil || (cluster != "" && cluster != svc.cluster) || (cluster == "" && svc.cluster != "default") {
		return nil
	}
	return svc
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ecsError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
