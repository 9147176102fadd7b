package migrate

import (
	"fmt"
	"strings"
)

// sqliteTriggerSuffixes name the sync triggers on SQLite, which cannot
// change NEW: AFTER triggers write the other shape back by rowid.
var sqliteTriggerSuffixes = [...]string{"ins_old", "ins_new", "upd_old", "upd_new"}

// sqliteTriggers are the SQLite form of function: the same rules, as
// AFTER triggers that update the row just written. The conditions that
// stop the PostgreSQL trigger from undoing the backfill stop these from
// undoing each other: a shape is recomputed only when it no longer
// matches the other (SQLite does not fire a trigger from itself, and
// recursive_triggers is off by default).
func (gr *syncGroup) sqliteTriggers(fn string) []string {
	t := gr.table
	row := func(cond string) string {
		return fmt.Sprintf("EXISTS (SELECT 1 FROM %s WHERE rowid = NEW.rowid AND %s)", t, cond)
	}
	set := func(targets []Operation, down bool) string {
		var s []string
		for _, op := range targets {
			e := op.Up
			if down {
				e = op.Down
			}
			s = append(s, fmt.Sprintf("%s = (%s)", op.Column, e))
		}
		return fmt.Sprintf("UPDATE %s SET %s WHERE rowid = NEW.rowid", t, strings.Join(s, ", "))
	}
	same := func(ops []Operation, not string) string {
		return fmt.Sprintf("(%s) IS %s(%s)", cols("NEW.", ops), not, cols("OLD.", ops))
	}
	trig := func(suffix, event, when, body string) string {
		return fmt.Sprintf("CREATE TRIGGER %s_%s AFTER %s ON %s\nWHEN %s\nBEGIN\n  %s;\nEND", fn, suffix, event, t, when, body)
	}
	var out []string
	if len(gr.news) > 0 {
		out = append(out, trig("ins_old", "INSERT", allNull(SQLite, "NEW.", gr.news), set(gr.news, false)))
	}
	if len(gr.olds) > 0 {
		when := allNull(SQLite, "NEW.", gr.olds)
		if len(gr.news) > 0 {
			when += " AND NOT " + allNull(SQLite, "NEW.", gr.news)
		}
		out = append(out, trig("ins_new", "INSERT", when, set(gr.olds, true)))
	}
	switch {
	case len(gr.news) > 0 && len(gr.olds) > 0:
		out = append(out,
			trig("upd_old", "UPDATE OF "+cols("", gr.olds), same(gr.olds, "NOT ")+" AND "+same(gr.news, "")+" AND "+row(distinct(SQLite, cols("", gr.olds), exprs(gr.olds, true))), set(gr.news, false)),
			trig("upd_new", "UPDATE OF "+cols("", gr.news), same(gr.news, "NOT ")+" AND "+same(gr.olds, "")+" AND "+row(distinct(SQLite, cols("", gr.news), exprs(gr.news, false))), set(gr.olds, true)))
	case len(gr.olds) > 0:
		out = append(out, trig("upd_new", "UPDATE", same(gr.olds, "")+" AND "+row(distinct(SQLite, cols("", gr.olds), exprs(gr.olds, true))), set(gr.olds, true)))
	}
	return out
}
