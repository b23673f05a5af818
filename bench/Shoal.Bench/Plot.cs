using System.Globalization;
using System.Security;
using System.Text;

namespace Shoal.Bench;

/// <summary>
/// The report's plot, a hand-written SVG: for every throughput headline (MB/s, files/s) a bar for Shoal and one for the
/// peer measured in the same run, grouped by target key. One scale per unit, so bars of a unit compare across rows.
/// </summary>
internal static class Plot
{
    private const int LabelWidth = 440;
    private const int BarArea = 340;
    private const int ValueWidth = 200;
    private const int BarHeight = 14;
    private const string ShoalColour = "#2b6cb0";
    private const string PeerColour = "#dd6b20";
    private const string CeilingColour = "#a0aec0";

    /// <summary>The SVG document, or null when no headline is a throughput.</summary>
    public static string? Svg(IReadOnlyList<Headline> headlines)
    {
        var rows = headlines.Where(h => h.Unit is "MB/s" or "files/s").OrderBy(h => h.Key, StringComparer.Ordinal).ToList();
        if (rows.Count == 0) return null;
        var scale = rows.GroupBy(h => h.Unit).ToDictionary(g => g.Key, g => Math.Max(1e-9, g.Max(h => Math.Max(h.Shoal, h.Peer ?? 0))));

        var body = new StringBuilder();
        body.Append(Text(10, 20, "Throughput: Shoal and the peer measured in the same run (longer is better; one scale per unit)", "start", bold: true));
        body.Append(CultureInfo.InvariantCulture, $"<rect x=\"10\" y=\"30\" width=\"12\" height=\"12\" fill=\"{ShoalColour}\"/>");
        body.Append(Text(26, 40, "Shoal", "start"));
        body.Append(CultureInfo.InvariantCulture, $"<rect x=\"80\" y=\"30\" width=\"12\" height=\"12\" fill=\"{PeerColour}\"/>");
        body.Append(Text(96, 40, "peer (Syncthing, aria2, …)", "start"));
        body.Append(CultureInfo.InvariantCulture, $"<rect x=\"270\" y=\"30\" width=\"12\" height=\"12\" fill=\"{CeilingColour}\"/>");
        body.Append(Text(286, 40, "machine ceiling or bound", "start"));

        var y = 50;
        string? key = null;
        foreach (var h in rows)
        {
            if (h.Key != key)
            {
                key = h.Key;
                y += 14;
                body.Append(Text(10, y + 4, key, "start", bold: true));
                body.Append(CultureInfo.InvariantCulture, $"<line x1=\"40\" y1=\"{y}\" x2=\"{LabelWidth + BarArea + ValueWidth - 10}\" y2=\"{y}\" stroke=\"#ccc\"/>");
                y += 10;
            }

            body.Append(Text(LabelWidth - 8, y + BarHeight - 2, h.Measure, "end"));
            Bar(body, y, h.Shoal / scale[h.Unit], $"Shoal {Report.Figure(h.Shoal, h.Unit)}", ShoalColour);
            y += BarHeight + 3;
            if (h.Peer is { } peer)
            {
                var colour = h.PeerName == "ceiling" || h.PeerName.Contains("bound", StringComparison.Ordinal) ? CeilingColour : PeerColour;
                Bar(body, y, peer / scale[h.Unit], $"{h.PeerName} {Report.Figure(peer, h.Unit)}", colour);
                y += BarHeight + 3;
            }

            y += 8;
        }

        var width = LabelWidth + BarArea + ValueWidth;
        return string.Create(CultureInfo.InvariantCulture,
            $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{y + 10}\" viewBox=\"0 0 {width} {y + 10}\" font-family=\"sans-serif\" font-size=\"12\">\n" +
            $"<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n");
    }

    private static void Bar(StringBuilder body, int y, double fraction, string label, string colour)
    {
        var length = Math.Max(1, (int)Math.Round(fraction * BarArea));
        body.Append(CultureInfo.InvariantCulture, $"<rect x=\"{LabelWidth}\" y=\"{y}\" width=\"{length}\" height=\"{BarHeight}\" fill=\"{colour}\"/>");
        body.Append(Text(LabelWidth + length + 5, y + BarHeight - 2, label, "start"));
        body.Append('\n');
    }

    private static string Text(int x, int y, string text, string anchor, bool bold = false) =>
        string.Create(CultureInfo.InvariantCulture,
            $"<text x=\"{x}\" y=\"{y}\" text-anchor=\"{anchor}\"{(bold ? " font-weight=\"bold\"" : "")}>{SecurityElement.Escape(text)}</text>");
}
