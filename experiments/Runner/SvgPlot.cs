using System.Globalization;
using System.Text;
using System.Xml;

namespace Distill.Experiments.Runner;

/// <summary>
/// A line plot as a standalone SVG: one line per series, axes with "nice" ticks (1, 2, 5 × 10^k),
/// grid lines, a title and a legend. Written with <see cref="XmlWriter"/>, so labels are escaped and the
/// file is well-formed whatever they contain.
/// </summary>
public static class SvgPlot
{
    public sealed record Series(string Label, IReadOnlyList<(double X, double Y)> Points);

    private const double Width = 880, Height = 500;
    private const double Left = 76, Right = 250, Top = 62, Bottom = 58;

    // Distinguishable on white and for the common colour-vision deficiencies; dashes tell lines apart past ten.
    private static readonly string[] Colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
    private static readonly string?[] Dashes = [null, "6 3", "2 3", "8 3 2 3"];

    public static string Render(string title, string? subtitle, string xLabel, string yLabel, IReadOnlyList<Series> series)
    {
        var points = series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        var sb = new StringBuilder();
        using (var w = XmlWriter.Create(sb, new XmlWriterSettings { Indent = true, OmitXmlDeclaration = true }))
        {
            const string ns = "http://www.w3.org/2000/svg";
            w.WriteStartElement("svg", ns);
            w.WriteAttributeString("width", N(Width));
            w.WriteAttributeString("height", N(Height));
            w.WriteAttributeString("viewBox", $"0 0 {N(Width)} {N(Height)}");
            w.WriteAttributeString("font-family", "Helvetica, Arial, sans-serif");
            w.WriteElementString("title", ns, Clean(title));
            Rect(w, 0, 0, Width, Height, "white", null);
            Text(w, Left, 26, title, 16, "start", weight: "bold");
            if (subtitle is not null) Text(w, Left, 46, subtitle, 12, "start", fill: "#555");

            var x0 = Left;
            var x1 = Width - Right;
            var y0 = Height - Bottom;
            var y1 = Top;
            if (points.Count == 0)
            {
                Rect(w, x0, y1, x1 - x0, y0 - y1, "none", "#999");
                Text(w, (x0 + x1) / 2, (y0 + y1) / 2, "no data: no run logged the metric", 14, "middle", fill: "#555");
                w.WriteEndElement();
                w.Flush();
                return sb.ToString();
            }

            var integralX = points.All(p => p.X == Math.Round(p.X));
            var (xMin, xMax, xStep) = Axis(points.Min(p => p.X), points.Max(p => p.X), integralX);
            var (yMin, yMax, yStep) = Axis(points.Min(p => p.Y), points.Max(p => p.Y), false);
            double Px(double x) => x0 + (x - xMin) / (xMax - xMin) * (x1 - x0);
            double Py(double y) => y0 - (y - yMin) / (yMax - yMin) * (y0 - y1);

            // Grid and ticks.
            w.WriteStartElement("g", ns);
            w.WriteAttributeString("font-size", "11");
            w.WriteAttributeString("fill", "#333");
            foreach (var x in Ticks(xMin, xMax, xStep))
            {
                Line(w, Px(x), y1, Px(x), y0, "#e5e5e5", 1);
                Line(w, Px(x), y0, Px(x), y0 + 5, "#333", 1);
                Text(w, Px(x), y0 + 18, TickLabel(x, xStep), null, "middle");
            }
            foreach (var y in Ticks(yMin, yMax, yStep))
            {
                Line(w, x0, Py(y), x1, Py(y), "#e5e5e5", 1);
                Line(w, x0 - 5, Py(y), x0, Py(y), "#333", 1);
                Text(w, x0 - 8, Py(y) + 4, TickLabel(y, yStep), null, "end");
            }
            w.WriteEndElement();

            // Axes and their labels.
            Line(w, x0, y0, x1, y0, "#333", 1.2);
            Line(w, x0, y0, x0, y1, "#333", 1.2);
            Text(w, (x0 + x1) / 2, Height - 16, xLabel, 13, "middle");
            w.WriteStartElement("text", ns);
            w.WriteAttributeString("transform", $"translate({N(20)},{N((y0 + y1) / 2)}) rotate(-90)");
            w.WriteAttributeString("text-anchor", "middle");
            w.WriteAttributeString("font-size", "13");
            w.WriteString(Clean(yLabel));
            w.WriteEndElement();

            // The lines, then the legend.
            for (var i = 0; i < series.Count; i++)
            {
                var s = series[i];
                var pts = s.Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).OrderBy(p => p.X).ToList();
                var color = Colors[i % Colors.Length];
                var dash = Dashes[i / Colors.Length % Dashes.Length];
                w.WriteStartElement("g", ns);
                w.WriteAttributeString("class", "series");
                w.WriteAttributeString("data-label", Clean(s.Label));
                if (pts.Count > 1)
                {
                    w.WriteStartElement("polyline", ns);
                    w.WriteAttributeString("points", string.Join(" ", pts.Select(p => $"{N(Px(p.X))},{N(Py(p.Y))}")));
                    w.WriteAttributeString("fill", "none");
                    w.WriteAttributeString("stroke", color);
                    w.WriteAttributeString("stroke-width", "2");
                    if (dash is not null) w.WriteAttributeString("stroke-dasharray", dash);
                    w.WriteEndElement();
                }
                // Markers where points are few enough to read (and always for a single point, which draws no line).
                if (pts.Count <= 60)
                    foreach (var p in pts) Circle(w, Px(p.X), Py(p.Y), pts.Count == 1 ? 4 : 2.5, color);
                w.WriteEndElement();
            }

            w.WriteStartElement("g", ns);
            w.WriteAttributeString("class", "legend");
            w.WriteAttributeString("font-size", "12");
            var lx = x1 + 18;
            for (var i = 0; i < series.Count; i++)
            {
                var ly = y1 + 8 + i * 20;
                var color = Colors[i % Colors.Length];
                var dash = Dashes[i / Colors.Length % Dashes.Length];
                w.WriteStartElement("line", ns);
                w.WriteAttributeString("x1", N(lx));
                w.WriteAttributeString("y1", N(ly));
                w.WriteAttributeString("x2", N(lx + 24));
                w.WriteAttributeString("y2", N(ly));
                w.WriteAttributeString("stroke", color);
                w.WriteAttributeString("stroke-width", "2");
                if (dash is not null) w.WriteAttributeString("stroke-dasharray", dash);
                w.WriteEndElement();
                Circle(w, lx + 12, ly, 2.5, color);
                var label = series[i].Label;
                if (series[i].Points.Count == 0) label += " (no data)";
                Text(w, lx + 32, ly + 4, label.Length > 34 ? label[..33] + "…" : label, null, "start");
            }
            w.WriteEndElement();

            w.WriteEndElement();
        }
        return sb.ToString();
    }

    /// <summary>An axis covering [min, max] from a tick below to a tick above, with about six ticks.</summary>
    public static (double Min, double Max, double Step) Axis(double min, double max, bool integral)
    {
        if (max == min)
        {
            var pad = integral ? 1 : min == 0 ? 1 : Math.Abs(min) * 0.05;
            (min, max) = (min - pad, max + pad);
        }
        var step = NiceStep((max - min) / 6);
        if (integral) step = Math.Max(1, step);
        return (Math.Floor(min / step + 1e-9) * step, Math.Ceiling(max / step - 1e-9) * step, step);
    }

    /// <summary>The smallest of 1, 2, 5 × 10^k not below <paramref name="rough"/>.</summary>
    public static double NiceStep(double rough)
    {
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        foreach (var m in new[] { 1.0, 2.0, 5.0, 10.0 })
            if (m * magnitude >= rough * (1 - 1e-9)) return m * magnitude;
        return 10 * magnitude;
    }

    private static IEnumerable<double> Ticks(double min, double max, double step)
    {
        var count = (int)Math.Round((max - min) / step);
        for (var k = 0; k <= count; k++) yield return min + k * step;
    }

    private static string TickLabel(double value, double step)
    {
        var decimals = Math.Max(0, (int)-Math.Floor(Math.Log10(step) + 1e-9));
        var rounded = Math.Round(value, decimals);
        if (rounded == 0) rounded = 0; // no "-0"
        return rounded.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    private static string N(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    private static void Line(XmlWriter w, double xa, double ya, double xb, double yb, string stroke, double width)
    {
        w.WriteStartElement("line", "http://www.w3.org/2000/svg");
        w.WriteAttributeString("x1", N(xa));
        w.WriteAttributeString("y1", N(ya));
        w.WriteAttributeString("x2", N(xb));
        w.WriteAttributeString("y2", N(yb));
        w.WriteAttributeString("stroke", stroke);
        w.WriteAttributeString("stroke-width", N(width));
        w.WriteEndElement();
    }

    private static void Rect(XmlWriter w, double x, double y, double width, double height, string fill, string? stroke)
    {
        w.WriteStartElement("rect", "http://www.w3.org/2000/svg");
        w.WriteAttributeString("x", N(x));
        w.WriteAttributeString("y", N(y));
        w.WriteAttributeString("width", N(width));
        w.WriteAttributeString("height", N(height));
        w.WriteAttributeString("fill", fill);
        if (stroke is not null) w.WriteAttributeString("stroke", stroke);
        w.WriteEndElement();
    }

    private static void Circle(XmlWriter w, double x, double y, double r, string fill)
    {
        w.WriteStartElement("circle", "http://www.w3.org/2000/svg");
        w.WriteAttributeString("cx", N(x));
        w.WriteAttributeString("cy", N(y));
        w.WriteAttributeString("r", N(r));
        w.WriteAttributeString("fill", fill);
        w.WriteEndElement();
    }

    private static void Text(XmlWriter w, double x, double y, string text, double? size, string anchor, string? fill = null, string? weight = null)
    {
        w.WriteStartElement("text", "http://www.w3.org/2000/svg");
        w.WriteAttributeString("x", N(x));
        w.WriteAttributeString("y", N(y));
        w.WriteAttributeString("text-anchor", anchor);
        if (size is { } s) w.WriteAttributeString("font-size", N(s));
        if (fill is not null) w.WriteAttributeString("fill", fill);
        if (weight is not null) w.WriteAttributeString("font-weight", weight);
        w.WriteString(Clean(text));
        w.WriteEndElement();
    }

    /// <summary>Drops the control characters XML 1.0 cannot hold (a label is user text).</summary>
    private static string Clean(string text) => new(text.Where(c => !char.IsControl(c) || c is '\t').ToArray());
}
