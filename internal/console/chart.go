package console

import (
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// This file draws the overview's bar charts as inline SVG, on the server:
// the console's CSP allows no script, and its styles only by hash, so a
// chart is geometry in presentation attributes and colour classes from
// style.css (which holds a light and a dark palette, each of AA
// contrast). The SVG scales with its viewBox; its title and description
// state the numbers, and the table under each chart has them all.

// series is one stack of a chart's bars: a value per bucket, drawn above
// the line (Up) or below it in the colour of Class.
type series struct {
	Name   string
	Class  string
	Up     bool
	Values []int64
}

// chart is an SVG bar chart ready for the template: numbers as text.
type chart struct {
	ID, Title, Desc string
	W, H, Font      int
	Rects           []svgRect
	Lines           []svgLine
	Labels          []svgText
	Legend          []legendItem
	Note            string // how to read it, under the legend
}

type svgRect struct{ X, Y, W, H, Class string }
type svgLine struct{ X1, X2, Y, Class string }
type svgText struct{ X, Y, Anchor, Text string }
type legendItem struct{ Name, Class string }

// The chart's geometry in viewBox units: 400 wide, so that its 12-unit
// text is about 11 px on a 390 px phone; the page caps its width on wide
// screens.
const (
	chartW, chartH                               = 400, 220
	padLeft, padRight, padTop, padBottom         = 34.0, 22.0, 12.0, 24.0
	chartFont                                    = 12
	maxXLabels                                   = 6
	minLabelGap                                  = 12.0 // between y labels
	barShare                                     = 0.7  // of a bucket's width
	minBarHeight                                 = 1.0  // a count above 0 stays visible
	chartPlotW, chartPlotH               float64 = chartW - padLeft - padRight, chartH - padTop - padBottom
)

// newChart lays out stacked bars, one bar per bucket of starts: the Up
// series stacked above a line, the others below it, each axis scaled to
// its tallest stack.
func newChart(id, title, desc string, starts []time.Time, interval string, ss []series) chart {
	c := chart{ID: id, Title: title, Desc: desc, W: chartW, H: chartH, Font: chartFont}
	n := len(starts)
	if n == 0 {
		return c
	}
	var maxUp, maxDown int64
	for i := range n {
		var up, down int64
		for _, s := range ss {
			if s.Up {
				up += s.Values[i]
			} else {
				down += s.Values[i]
			}
		}
		maxUp, maxDown = max(maxUp, up), max(maxDown, down)
	}
	if maxUp+maxDown == 0 {
		return c
	}
	scale := chartPlotH / float64(maxUp+maxDown)
	base := padTop + float64(maxUp)*scale
	slot := chartPlotW / float64(n)
	for i := range n {
		x := padLeft + float64(i)*slot + slot*(1-barShare)/2
		up, down := base, base
		for _, s := range ss {
			v := s.Values[i]
			if v == 0 {
				continue
			}
			h := math.Max(float64(v)*scale, minBarHeight)
			y := down
			if s.Up {
				up -= h
				y = up
			} else {
				down += h
			}
			c.Rects = append(c.Rects, svgRect{X: num(x), Y: num(y), W: num(slot * barShare), H: num(h), Class: s.Class})
		}
	}

	// The line, the stacks' tops as faint lines, and their values on the
	// left where they do not crowd each other.
	right := chartW - padRight
	c.Lines = append(c.Lines, svgLine{X1: num(padLeft), X2: num(right), Y: num(base), Class: "axis"})
	c.Labels = append(c.Labels, svgText{X: num(padLeft - 4), Y: num(base + 4), Anchor: "end", Text: "0"})
	for _, m := range []struct {
		v int64
		y float64
	}{{maxUp, padTop}, {maxDown, padTop + chartPlotH}} {
		if m.v == 0 {
			continue
		}
		c.Lines = append(c.Lines, svgLine{X1: num(padLeft), X2: num(right), Y: num(m.y), Class: "grid"})
		if math.Abs(m.y-base) >= minLabelGap {
			c.Labels = append(c.Labels, svgText{X: num(padLeft - 4), Y: num(m.y + 4), Anchor: "end", Text: strconv.FormatInt(m.v, 10)})
		}
	}
	// At most maxXLabels bucket names, the newest always among them.
	step := (n + maxXLabels - 1) / maxXLabels
	// Months are named short ("Mar"), with the year on the oldest label
	// and on January's, so that six fit a phone's width.
	for i := n - 1; i >= 0; i -= step {
		text := bucketLabel(starts[i], interval, false)
		if interval == "month" && i-step >= 0 && starts[i].Month() != time.January {
			text = starts[i].Format("Jan")
		}
		c.Labels = append(c.Labels, svgText{X: num(padLeft + (float64(i)+0.5)*slot), Y: num(chartH - 6), Anchor: "middle", Text: text})
	}
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s.Name] {
			seen[s.Name] = true
			c.Legend = append(c.Legend, legendItem{Name: s.Name, Class: s.Class})
		}
	}
	return c
}

// Bars returns the chart's bars as SVG rect elements, one a line. A chart
// has up to a bar per bucket and series (hundreds on a month of days), so
// they are written here rather than by the template, whose escaping per
// attribute cost more than the rest of the page; the coordinates are
// numbers and the classes the code's own, escaped all the same.
func (c chart) Bars() template.HTML {
	var b strings.Builder
	b.Grow(len(c.Rects) * 64)
	for _, r := range c.Rects {
		b.WriteString(`<rect x="`)
		b.WriteString(template.HTMLEscapeString(r.X))
		b.WriteString(`" y="`)
		b.WriteString(template.HTMLEscapeString(r.Y))
		b.WriteString(`" width="`)
		b.WriteString(template.HTMLEscapeString(r.W))
		b.WriteString(`" height="`)
		b.WriteString(template.HTMLEscapeString(r.H))
		b.WriteString(`" class="`)
		b.WriteString(template.HTMLEscapeString(r.Class))
		b.WriteString("\"/>\n")
	}
	return template.HTML(b.String()) //nolint:gosec // numbers and the code's class names, escaped above
}

// num formats a coordinate with one decimal.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
