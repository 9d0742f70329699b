package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/db"
)

// Ingest limits.
const (
	maxNameLen = 64
	maxUnitLen = 16
	maxTextLen = 500
	maxLinkLen = 2048
)

// sampleAdder stores a posted metric sample.
type sampleAdder interface {
	AddSample(ctx context.Context, s db.Sample) error
}

// handleIngestMetric serves POST /api/metrics: name, value and an optional
// unit, as a form or JSON. The metric shows on every open dashboard as a card
// and a chart series at once.
func handleIngestMetric(store sampleAdder, board *Board) echo.HandlerFunc {
	return func(c echo.Context) error {
		body, ct, err := readBody(c)
		if err != nil {
			return err
		}
		in, err := decodeMetric(ct, body)
		if err != nil {
			return err
		}
		if !board.CanAdd(in.Name) {
			return errTooManyMetrics
		}
		s := db.Sample{Name: in.Name, Value: in.Value, Unit: in.Unit, At: time.Now().UTC()}
		if err := store.AddSample(c.Request().Context(), s); err != nil {
			return err
		}
		if err := board.AddSample(s); err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, metricBody{Name: s.Name, Value: s.Value, Unit: s.Unit, At: s.At})
	}
}

// metricBody is the JSON answer to a posted metric.
type metricBody struct {
	Name  string    `json:"name"`
	Value float64   `json:"value"`
	Unit  string    `json:"unit,omitempty"`
	At    time.Time `json:"at"`
}

// activityAdder stores an activity item and publishes it after commit.
type activityAdder interface {
	AddActivity(ctx context.Context, text, link string, at time.Time) (db.Activity, error)
}

// handleIngestActivity serves POST /api/activity: text and an optional link.
// When it answers, the item is stored and on its way to every open feed.
func handleIngestActivity(store activityAdder) echo.HandlerFunc {
	return func(c echo.Context) error {
		body, ct, err := readBody(c)
		if err != nil {
			return err
		}
		in, err := decodeActivity(ct, body)
		if err != nil {
			return err
		}
		a, err := store.AddActivity(c.Request().Context(), in.Text, in.Link, time.Now().UTC())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, a)
	}
}

// readBody returns the request body, which limitBody has already read and
// bounded.
func readBody(c echo.Context) ([]byte, string, error) {
	r := c.Request()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, "", badField("body", "could not be read: %v", err)
	}
	return body, r.Header.Get(echo.HeaderContentType), nil
}

// metricInput is a decoded, valid POST /api/metrics body.
type metricInput struct {
	Name  string
	Value float64
	Unit  string
}

// decodeMetric decodes and validates a metric posted as JSON or as a form.
func decodeMetric(contentType string, body []byte) (metricInput, error) {
	var in struct {
		Name  string   `json:"name"`
		Value *float64 `json:"value"`
		Unit  string   `json:"unit"`
	}
	form, err := decodeBody(contentType, body, &in)
	if err != nil {
		return metricInput{}, err
	}
	if form != nil {
		in.Name, in.Unit = form.Get("name"), form.Get("unit")
		if v := strings.TrimSpace(form.Get("value")); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return metricInput{}, badField("value", "must be a number, got %q", truncate(v, 32))
			}
			in.Value = &f
		}
	}
	out := metricInput{Name: strings.TrimSpace(in.Name), Unit: strings.TrimSpace(in.Unit)}
	if err := checkName(out.Name); err != nil {
		return metricInput{}, err
	}
	if in.Value == nil {
		return metricInput{}, badField("value", "is required: a number")
	}
	if math.IsNaN(*in.Value) || math.IsInf(*in.Value, 0) {
		return metricInput{}, badField("value", "must be a finite number")
	}
	out.Value = *in.Value
	if err := checkText("unit", out.Unit, maxUnitLen, false); err != nil {
		return metricInput{}, err
	}
	return out, nil
}

// activityInput is a decoded, valid POST /api/activity body.
type activityInput struct {
	Text string
	Link string
}

// decodeActivity decodes and validates an activity item posted as JSON or as
// a form.
func decodeActivity(contentType string, body []byte) (activityInput, error) {
	var in struct {
		Text string `json:"text"`
		Link string `json:"link"`
	}
	form, err := decodeBody(contentType, body, &in)
	if err != nil {
		return activityInput{}, err
	}
	if form != nil {
		in.Text, in.Link = form.Get("text"), form.Get("link")
	}
	out := activityInput{Text: strings.TrimSpace(in.Text), Link: strings.TrimSpace(in.Link)}
	if err := checkText("text", out.Text, maxTextLen, true); err != nil {
		return activityInput{}, err
	}
	if out.Link != "" {
		if err := checkLink(out.Link); err != nil {
			return activityInput{}, err
		}
	}
	return out, nil
}

// decodeBody decodes JSON into v and returns nil, or parses a form and
// returns it.
func decodeBody(contentType string, body []byte, v any) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "application/x-www-form-urlencoded", nil
	}
	if err != nil {
		return nil, &fieldError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type", Message: "is not a media type"}
	}
	switch mt {
	case "application/json":
		return nil, decodeJSON(body, v)
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, badField("body", "is not a valid form: %v", err)
		}
		return form, nil
	default:
		return nil, &fieldError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
			Message: "must be application/json or application/x-www-form-urlencoded"}
	}
}

// decodeJSON decodes exactly one JSON value into v, refusing unknown fields
// and anything after the value but white space.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badField("body", "holds more than one JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return badField("body", "must be a JSON object, not a %s", te.Value)
	case errors.As(err, &te):
		return badField(te.Field, "must be a %s", te.Type.String())
	case errors.As(err, &se):
		return badField("body", "is not valid JSON (at byte %d)", se.Offset)
	case errors.Is(err, io.EOF):
		return badField("body", "is empty; send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if unq, err := strconv.Unquote(name); err == nil && checkName(unq) == nil {
			return badField(unq, "is not a known field")
		}
		return badField("body", "has an unknown field %s", truncate(name, 40))
	default:
		return badField("body", "is not valid JSON")
	}
}

// checkName accepts 1–64 letters, digits, spaces and _ - . : /
func checkName(name string) error {
	if name == "" {
		return badField("name", "is required")
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameLen {
		return badField("name", "must be at most %d characters", maxNameLen)
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(" _-.:/", r) {
			return badField("name", "may hold only letters, digits, spaces and _ - . : / (found %q)", r)
		}
	}
	return nil
}

// checkText accepts valid UTF-8 text of at most max characters without
// control characters.
func checkText(field, s string, max int, required bool) error {
	if s == "" {
		if required {
			return badField(field, "is required")
		}
		return nil
	}
	if !utf8.ValidString(s) {
		return badField(field, "is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return badField(field, "must be at most %d characters (got %d)", max, n)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return badField(field, "must be one line without control characters")
		}
	}
	return nil
}

// checkLink accepts an absolute http or https URL.
func checkLink(link string) error {
	if len(link) > maxLinkLen {
		return badField("link", "must be at most %d bytes", maxLinkLen)
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return badField("link", "must be an absolute http:// or https:// URL")
	}
	if err := checkText("link", link, maxLinkLen, true); err != nil {
		return err
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
