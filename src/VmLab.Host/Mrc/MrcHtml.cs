using System.Globalization;
using System.Net;
using System.Text;
using ScottPlot;

namespace VmLab.Host.Mrc;

/// <summary>
/// A miss-ratio curve as one self-contained HTML page: the chart (drawn with ScottPlot, embedded as base64 PNG, as
/// <c>vmlab report</c> draws its charts) and the table of points. It loads nothing and runs no script.
/// </summary>
public static class MrcHtml
{
    public static string Render(MrcResult r)
    {
        var plot = new Plot();
        var points = r.Points.OrderBy(p => p.Size).ToList();
        bool log2 = points.Count >= 3 && points[^1].Size / (double)points[0].Size >= 16;
        double X(long size) => log2 ? Math.Log2(size) : size;
        var scatter = plot.Add.Scatter(points.Select(p => X(p.Size)).ToArray(), points.Select(p => p.MissRatio).ToArray());
        scatter.LineWidth = 2;
        scatter.MarkerSize = points.Count <= 64 ? 6 : 0;
        string what = r.Target == MrcTarget.Tlb ? "TLB entries" : "page frames";
        plot.XLabel(log2 ? what + " (log2 scale)" : what);
        plot.YLabel(r.Target == MrcTarget.Tlb ? "TLB misses per access" : "faults per access");
        if (log2)
        {
            var ticks = new List<double>();
            for (int e = (int)Math.Ceiling(Math.Log2(points[0].Size)); e <= Math.Floor(Math.Log2(points[^1].Size)); e++) ticks.Add(e);
            plot.Axes.Bottom.SetTicks([.. ticks], [.. ticks.Select(e => Math.Pow(2, e).ToString("N0", CultureInfo.InvariantCulture))]);
        }
        plot.Axes.SetLimitsY(0, Math.Max(1e-9, points.Max(p => p.MissRatio)) * 1.05);
        string title = $"{r.Name}: {Describe(r)}";
        plot.Title(title);
        byte[] png = plot.GetImageBytes(860, 480, ImageFormat.Png);

        static string E(string s) => WebUtility.HtmlEncode(s);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
            .Append(E($"miss-ratio curve: {r.Name}")).Append("</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}" +
                "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>\n");
        html.Append("<h1>").Append(E($"Miss-ratio curve: {r.Name}")).Append("</h1>\n<p>")
            .Append(E(string.Create(CultureInfo.InvariantCulture,
                $"{Describe(r)}; {r.Accesses:N0} page references, {r.SampledAccesses:N0} counted, {r.Pages:N0} distinct pages counted; {r.Runs} miniature run(s); {r.ElapsedSeconds:0.###} s.")))
            .Append("</p>\n");
        html.Append("<figure><img alt=\"").Append(E(title)).Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(png)).Append("\"></figure>\n");
        html.Append("<table><thead><tr><th>size</th><th>misses</th><th>miss ratio</th></tr></thead><tbody>\n");
        foreach (var p in r.Points)
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{p.Size:N0}</td><td>{p.Misses:N0}</td><td>{p.MissRatio:0.000000}</td></tr>\n");
        html.Append("</tbody></table>\n</body></html>\n");
        return html.ToString();
    }

    /// <summary>"tlb, lru, exact (Mattson stack distances)" and the like.</summary>
    public static string Describe(MrcResult r) => r.Method switch
    {
        "exact" => $"{MrcResult.TargetName(r.Target)}, {r.Policy}, exact (Mattson stack distances)",
        "shards" => string.Create(CultureInfo.InvariantCulture, $"{MrcResult.TargetName(r.Target)}, {r.Policy}, SHARDS at rate {r.SampleRate:0.######} (scaled stack distances)"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{MrcResult.TargetName(r.Target)}, {r.Policy}, SHARDS at rate {r.SampleRate:0.######} (miniature simulations)"),
    };
}
