using Shoal.Core;
using Shoal.Node.Api;

namespace Shoal.Cli;

/// <summary>
/// One transfer's progress (a download, a put): redrawn in place on a terminal, or a plain line every few seconds when the output is a
/// file or a pipe, so logs stay readable.
/// </summary>
public sealed class ProgressLine(TextWriter output, bool redirected) : IDisposable
{
    private const int BarWidth = 24;
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(5);
    private DateTimeOffset _lastPlain = DateTimeOffset.MinValue;
    private bool _drawn;

    public void Update(TransferDto transfer) => Show(Describe(transfer));

    public void Update(PutProgressDto put) =>
        Show($"{Name(put.Name)}  {Bar(put.PlacedBytes, put.Size)}  {ByteSize.Format(put.BytesPerSecond)}/s  placing copies");

    /// <summary>A share or put hashing its files: the file, all files' bytes hashed of their total, the rate.</summary>
    public void Update(IndexingDto job)
    {
        var which = job.Files > 1 ? $" (file {job.File} of {job.Files})" : "";
        Show($"{Name(Path.GetFileName(job.Current))}  {Bar(job.BytesDone, job.Bytes)}  {ByteSize.Format(job.BytesPerSecond)}/s  hashing{which}");
    }

    private void Show(string text)
    {
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
        if (t.State == "diskfull") return $"{Name(t.Name)}  waiting for disk space: {t.Error}";
        if (t.State == "waiting" || t.TotalChunks == 0)
        {
            return $"{Name(t.Name)}  waiting for a node that has it…{(t.Error is null ? "" : $" ({t.Error})")}";
        }

        var eta = t.EtaSeconds is { } s ? TimeSpan.FromSeconds(Math.Ceiling(s)).ToString(s >= 3600 ? @"h\:mm\:ss" : @"m\:ss", System.Globalization.CultureInfo.InvariantCulture) : "--:--";
        var sources = t.Sources == 1 ? "1 source" : $"{t.Sources} sources";
        return $"{Name(t.Name)}  {Bar(t.VerifiedBytes, t.Size)}  {ByteSize.Format(t.BytesPerSecond)}/s  ETA {eta}  {sources}";
    }

    /// <summary>The bar, the percentage and done/total.</summary>
    private static string Bar(long done, long total)
    {
        var fraction = total == 0 ? 1 : (double)done / total;
        var filled = (int)Math.Round(fraction * BarWidth);
        return $"{new string('█', filled)}{new string('░', BarWidth - filled)} {fraction * 100,3:0}%  {ByteSize.Format(done)}/{ByteSize.Format(total)}";
    }

    private static string Name(string name) => name.Length > 32 ? name[..31] + "…" : name;

    public void Dispose() => Finish(null);
}
