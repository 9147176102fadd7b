package main

import "strings"

// widgetTemplate renders window.openai.toolOutput (search_appointments'
// structured content) and sets window.widgetReady when done. RENDER is
// the line that reads the appointments.
const widgetTemplate = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>Appointments</title></head>
<body>
<ul id="list"><li>loading…</li></ul>
<script>
(function () {
  const openai = window.openai;
  if (!openai) { throw new Error("window.openai is missing"); }
  const out = openai.toolOutput || {appointments: []};
  RENDER
  document.getElementById("list").innerHTML = items.map(a =>
    "<li>" + a.at.replace("T", " ") + " with " + a.doctor + "</li>").join("") || "<li>no appointments</li>";
  if (openai.setWidgetState) { openai.setWidgetState({shown: items.length}); }
  window.widgetReady = true;
})();
</script>
</body>
</html>
`

// widgetHTML is the widget of this release; with --break widget-throws it
// reads a field v2 renamed, so it throws a TypeError in the browser.
func (a *app) widgetHTML() string {
	render := `const items = out.appointments || [];`
	if a.cfg.broken(breakWidgetThrows) {
		render = `const items = out.results.map(a => a); // broken on purpose: there is no results field`
	}
	return strings.Replace(widgetTemplate, "RENDER", render, 1)
}
