using Shoal.Node.Api;

namespace Shoal.Cli;

/// <summary>
/// One download's progress: redrawn in place on a terminal, or a plain line every few seconds when the output is a
/// file or a pipe, so logs stay readable.
/// </summary>
public sealed class ProgressLine(TextWriter output, bool redirected) : IDisposable
{
    private const int BarWidth = 24;
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(5);
    private DateTimeOffset _lastPlain = DateTimeOffset.MinValue;
    private bool _drawn;

    public void Update(TransferDto transfer)
    {
        var text = Describe(transfer);
        if (redirected)
        {
            if (DateTimeOffset.UtcNow - _lastPlain < PlainInterval) return;
            _lastPlain = DateTimeOffset.UtcNow;
            output.WriteLine(text);
            return;
        }

        var width = Console.WindowWidth > 0 ? Console.WindowWidth - 1 : 100;
        output.Write("\r\u001b[2K" + (text.Length > width ? text[..width] : text));
        _drawn = true;
    }

    public void Finish(string? summary)
    {
        if (_drawn) output.Write("\r\u001b[2K");
        _drawn = false;
        if (summary is not null) output.WriteLine(summary);
    }

    public static string Describe(TransferDto t)
    {
        if (t.State == "waiting" || t.TotalChunks == 0)
        {
            return $"{Name(t)}  waiting for a node that has it…{(t.Error is null ? "" : $" ({t.Error})")}";
        }

        var fraction = t.Size == 0 ? 1 : (double)t.VerifiedBytes / t.Size;
        var filled = (int)Math.Round(fraction * BarWidth);
        var bar = new string('█', filled) + new string('░', BarWidth - filled);
        var eta = t.EtaSeconds is { } s ? TimeSpan.FromSeconds(Math.Ceiling(s)).ToString(s >= 3600 ? @"h\:mm\:ss" : @"m\:ss", System.Globalization.CultureInfo.InvariantCulture) : "--:--";
        var sources = t.Sources == 1 ? "1 source" : $"{t.Sources} sources";
        return $"{Name(t)}  {bar} {fraction * 100,3:0}%  {ByteSize.Format(t.VerifiedBytes)}/{ByteSize.Format(t.Size)}  {ByteSize.Format(t.BytesPerSecond)}/s  ETA {eta}  {sources}";
    }

    private static string Name(TransferDto t) => t.Name.Length > 32 ? t.Name[..31] + "…" : t.Name;

    public void Dispose() => Finish(null);
}
