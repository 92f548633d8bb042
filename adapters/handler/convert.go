package handler

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	fnmetadata "cloud.google.com/go/functions/metadata"
	"github.com/cloudevents/sdk-go/v2/event"
)

// This file converts what functions-framework-go accepts in place of a
// CloudEvent — a Pub/Sub push envelope or a legacy background event — into
// the CloudEvent it would hand a CloudEvent function, field for field (its
// convertBackgroundToCloudEvent): the same type, source, subject, id, time
// and data.

// isCloudEventRequest reports whether a request says it carries a
// CloudEvent, as functions-framework-go decides it: a Ce-Id header, or
// "cloudevents" in the Content-Type. It converts any other request.
func isCloudEventRequest(r *http.Request) bool {
	return header(r.Header, "Ce-Id") != "" || strings.Contains(header(r.Header, "Content-Type"), "cloudevents")
}

// CloudEvent services of the legacy event types.
const (
	firebaseAuthService = "firebaseauth.googleapis.com"
	firebaseService     = "firebase.googleapis.com"
	firebaseDBService   = "firebasedatabase.googleapis.com"
	firestoreService    = "firestore.googleapis.com"
	pubsubService       = "pubsub.googleapis.com"
	storageService      = "storage.googleapis.com"
)

// pushMessageType is the "@type" functions-framework-go gives a pushed
// message's data, spelt as it spells it.
const pushMessageType = "type.googleapis.com/google.pubusb.v1.PubsubMessage"

// legacyTypes maps the legacy event types to their CloudEvent types.
var legacyTypes = map[string]string{
	"google.pubsub.topic.publish":                              pubsubPublished,
	"providers/cloud.pubsub/eventTypes/topic.publish":          pubsubPublished,
	"google.storage.object.finalize":                           "google.cloud.storage.object.v1.finalized",
	"google.storage.object.delete":                             "google.cloud.storage.object.v1.deleted",
	"google.storage.object.archive":                            "google.cloud.storage.object.v1.archived",
	"google.storage.object.metadataUpdate":                     "google.cloud.storage.object.v1.metadataUpdated",
	"providers/cloud.firestore/eventTypes/document.write":      "google.cloud.firestore.document.v1.written",
	"providers/cloud.firestore/eventTypes/document.create":     "google.cloud.firestore.document.v1.created",
	"providers/cloud.firestore/eventTypes/document.update":     "google.cloud.firestore.document.v1.updated",
	"providers/cloud.firestore/eventTypes/document.delete":     "google.cloud.firestore.document.v1.deleted",
	"providers/firebase.auth/eventTypes/user.create":           "google.firebase.auth.user.v1.created",
	"providers/firebase.auth/eventTypes/user.delete":           "google.firebase.auth.user.v1.deleted",
	"providers/google.firebase.analytics/eventTypes/event.log": "google.firebase.analytics.log.v1.written",
	"providers/google.firebase.database/eventTypes/ref.create": "google.firebase.database.ref.v1.created",
	"providers/google.firebase.database/eventTypes/ref.write":  "google.firebase.database.ref.v1.written",
	"providers/google.firebase.database/eventTypes/ref.update": "google.firebase.database.ref.v1.updated",
	"providers/google.firebase.database/eventTypes/ref.delete": "google.firebase.database.ref.v1.deleted",
	"providers/cloud.storage/eventTypes/object.change":         "google.cloud.storage.object.v1.finalized",
}

// legacyServices maps legacy event type prefixes to the service of an event
// whose resource does not name it.
var legacyServices = []struct{ prefix, service string }{
	{"providers/cloud.firestore/", firestoreService},
	{"providers/google.firebase.analytics/", firebaseService},
	{"providers/firebase.auth/", firebaseAuthService},
	{"providers/google.firebase.database/", firebaseDBService},
	{"providers/cloud.pubsub/", pubsubService},
	{"providers/cloud.storage/", storageService},
	{"google.pubsub", pubsubService},
	{"google.storage", storageService},
}

// legacyBody is what a converted request may hold: the members of a push
// envelope (subscription, message) and of a background event (data,
// context, or the flat form with eventId, eventType … beside data). Each is
// kept raw to tell a member that is null from one that is absent.
type legacyBody struct {
	Subscription json.RawMessage `json:"subscription"`
	Message      json.RawMessage `json:"message"`
	Data         json.RawMessage `json:"data"`
	Context      json.RawMessage `json:"context"`
}

// pushedMessage is the message of a push envelope as functions-framework-go
// reads it.
type pushedMessage struct {
	ID          string            `json:"messageId"`
	Data        []byte            `json:"data"`
	Attributes  map[string]string `json:"attributes"`
	PublishTime time.Time         `json:"publishTime"`
}

var errNoLegacyEvent = errors.New("no CloudEvent, Pub/Sub push or background event")

// legacyCloudEvent converts a request body that is no CloudEvent into the
// CloudEvent functions-framework-go makes of it; path is the request's URL
// path, which names the topic of a push request ("…/projects/P/topics/T").
// pushed reports a push envelope, whose subscription, ordering key and
// delivery attempt the event does not keep.
func legacyCloudEvent(body []byte, path string) (e *event.Event, pushed bool, err error) {
	md, data, pushed, err := backgroundEvent(body, path)
	if err != nil {
		return nil, false, err
	}
	ceType, ok := legacyTypes[md.EventType]
	if !ok {
		return nil, false, fmt.Errorf("no CloudEvent type for event type %q", md.EventType)
	}
	res := md.Resource
	if res == nil {
		res = &fnmetadata.Resource{}
	}
	service := res.Service
	if service == "" {
		for _, s := range legacyServices {
			if strings.HasPrefix(md.EventType, s.prefix) {
				service = s.service
			}
		}
		if service == "" {
			return nil, false, fmt.Errorf("no CloudEvent service for event type %q", md.EventType)
		}
	}
	resource := res.Name
	if resource == "" {
		resource = res.RawPath
	}
	resource, subject, ok := splitResource(service, resource)
	if !ok {
		return nil, false, fmt.Errorf("resource %q is no %s resource", resource, service)
	}

	ce := map[string]any{
		"id":              md.EventID,
		"time":            md.Timestamp,
		"specversion":     event.CloudEventsVersionV1,
		"datacontenttype": event.ApplicationJSON,
		"type":            ceType,
		"source":          "//" + service + "/" + resource,
		"data":            data,
	}
	if subject != "" {
		ce["subject"] = subject
	}
	switch service {
	case pubsubService:
		msg, ok := data.(map[string]any)
		if !ok {
			return nil, false, errors.New(`the data of a Pub/Sub event is no object`)
		}
		msg["publishTime"] = md.Timestamp
		msg["messageId"] = md.EventID
		ce["data"] = map[string]any{"message": msg}
	case firebaseAuthService:
		renameAuthMetadata(data)
		if d, ok := data.(map[string]any); ok {
			if uid, ok := d["uid"]; ok {
				ce["subject"] = fmt.Sprintf("users/%v", uid)
			}
		}
	case firebaseDBService:
		var db struct {
			Domain string `json:"domain"`
		}
		if err := json.Unmarshal(body, &db); err != nil {
			return nil, false, fmt.Errorf("database domain: %w", err)
		}
		location := "us-central1"
		if db.Domain != "firebaseio.com" {
			loc, _, ok := strings.Cut(db.Domain, ".")
			if !ok {
				return nil, false, fmt.Errorf("database domain %q has no location", db.Domain)
			}
			location = loc
		}
		ce["source"] = "//" + service + "/projects/_/locations/" + location + "/" + resource
	}

	// The structured JSON functions-framework-go sends on to the CloudEvents
	// SDK, decoded as the SDK decodes it.
	encoded, err := json.Marshal(ce)
	if err != nil {
		return nil, false, err
	}
	e = new(event.Event)
	if err := json.Unmarshal(encoded, e); err != nil {
		return nil, false, err
	}
	return e, pushed, nil
}

// backgroundEvent reads the metadata and data of a background event from a
// request body: a background event envelope ({"data", "context"}, or the
// flat form), else a push envelope, whose topic the URL path names.
func backgroundEvent(body []byte, path string) (md *fnmetadata.Metadata, data any, pushed bool, err error) {
	var raw legacyBody
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, nil, false, err
	}
	// Every member present must decode, whichever form is used.
	var subscription string
	var msg pushedMessage
	var errs []error
	for _, m := range []struct {
		raw json.RawMessage
		v   any
	}{
		{raw.Subscription, &subscription},
		{raw.Message, &msg},
		{raw.Data, &data},
		{raw.Context, &md},
	} {
		if m.raw != nil {
			errs = append(errs, json.Unmarshal(m.raw, m.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, false, err
	}

	switch {
	case raw.Data != nil || raw.Context != nil: // a background event
	case raw.Subscription != nil || raw.Message != nil:
		timestamp := msg.PublishTime
		if timestamp.IsZero() {
			timestamp = time.Now()
		}
		md = &fnmetadata.Metadata{
			EventID:   msg.ID,
			Timestamp: timestamp,
			EventType: legacyPubSubPublish,
			Resource:  &fnmetadata.Resource{Name: topicPath(path), Type: pushMessageType, Service: pubsubService},
		}
		data = map[string]any{"@type": pushMessageType, "data": msg.Data, "attributes": msg.Attributes}
		pushed = true
	}
	if data == nil {
		return nil, nil, false, errNoLegacyEvent
	}
	if md == nil { // the flat form
		md = new(fnmetadata.Metadata)
		if err := json.Unmarshal(body, md); err != nil {
			return nil, nil, false, err
		}
		if md.EventID == "" {
			return nil, nil, false, errNoLegacyEvent
		}
	}
	return md, data, pushed, nil
}

// topicPath is the first "projects/P/topics/T" in a URL path, or "".
func topicPath(path string) string {
	const projects, topics = "projects/", "/topics/"
	for i := 0; ; i++ {
		j := strings.Index(path[i:], projects)
		if j < 0 {
			return ""
		}
		i += j
		project := segment(path[i+len(projects):])
		rest := path[i+len(projects)+len(project):]
		if project == "" || !strings.HasPrefix(rest, topics) {
			continue
		}
		if topic := segment(rest[len(topics):]); topic != "" {
			return path[i : i+len(projects)+len(project)+len(topics)+len(topic)]
		}
	}
}

// segment is the longest prefix of s without "/" or "?".
func segment(s string) string {
	if i := strings.IndexAny(s, "/?"); i >= 0 {
		return s[:i]
	}
	return s
}

// splitResource splits a legacy resource name into a CloudEvent's resource
// (the end of its source) and subject, for the services whose events have
// a subject; false when the name does not have that service's shape.
//
//	storage             projects/_/buckets/B / objects/O
//	firestore           projects/P/databases/(default) / documents/D
//	firebase database   instances/I / refs/R (from projects/_/instances/I/refs/R)
//	firebase            projects/P / events/E
func splitResource(service, resource string) (string, string, bool) {
	switch service {
	case storageService:
		rest, ok := strings.CutPrefix(resource, "projects/_/buckets/")
		bucket := segmentNoSlash(rest)
		subject, found := strings.CutPrefix(rest[len(bucket):], "/")
		if !ok || bucket == "" || !found || !strings.HasPrefix(subject, "objects/") || !anyLine(subject[len("objects/"):]) {
			return resource, "", false
		}
		return resource[:len(resource)-len(subject)-1], subject, true
	case firestoreService:
		rest, ok := strings.CutPrefix(resource, "projects/")
		project := segmentNoSlash(rest)
		subject, found := strings.CutPrefix(rest[len(project):], "/databases/(default)/")
		if !ok || project == "" || !found || !strings.HasPrefix(subject, "documents/") || !anyLine(subject[len("documents/"):]) {
			return resource, "", false
		}
		return resource[:len(resource)-len(subject)-1], subject, true
	case firebaseDBService:
		rest, ok := strings.CutPrefix(resource, "projects/_/instances/")
		instance := segmentNoSlash(rest)
		subject, found := strings.CutPrefix(rest[len(instance):], "/")
		if !ok || instance == "" || !found || !strings.HasPrefix(subject, "refs/") || !anyLine(subject[len("refs/"):]) {
			return resource, "", false
		}
		return "instances/" + instance, subject, true
	case firebaseService:
		rest, ok := strings.CutPrefix(resource, "projects/")
		project := segmentNoSlash(rest)
		subject, found := strings.CutPrefix(rest[len(project):], "/")
		name, isEvent := strings.CutPrefix(subject, "events/")
		if !ok || project == "" || !found || !isEvent || name == "" || strings.Contains(name, "/") {
			return resource, "", false
		}
		return "projects/" + project, subject, true
	}
	return resource, "", true
}

// segmentNoSlash is the longest prefix of s without "/".
func segmentNoSlash(s string) string {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}

// anyLine reports whether s is one or more characters and no newline, what
// ".+$" matches at the end of a name.
func anyLine(s string) bool { return s != "" && !strings.Contains(s, "\n") }

// renameAuthMetadata renames the Firebase Auth user metadata fields of a
// background event to their CloudEvent names.
func renameAuthMetadata(data any) {
	d, _ := data.(map[string]any)
	md, _ := d["metadata"].(map[string]any)
	for old, name := range map[string]string{"createdAt": "createTime", "lastSignedInAt": "lastSignInTime"} {
		if v, ok := md[old]; ok {
			md[name] = v
			delete(md, old)
		}
	}
}
