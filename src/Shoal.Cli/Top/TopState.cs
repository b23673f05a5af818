using System.Text.Json;
using Shoal.Node.Api;

namespace Shoal.Cli.Top;

/// <summary>A folder event as <c>top</c> logged it: <see cref="Sequence"/> counts up from 1 in the order they arrived.</summary>
public sealed record LoggedEvent(long Sequence, FolderEventDto Event);

/// <summary>
/// What <c>shoal top</c> knows of the node: the last snapshot of each kind the event stream sent, the folder events
/// seen so far (more than the 50 each snapshot carries, oldest first), a short history of the transfer rates, and
/// where the log is scrolled to. No I/O and no clock of its own: the caller applies messages and ticks it.
/// </summary>
public sealed class TopState
{
    public const int MaxEvents = 1000;
    public const int HistoryLength = 240;

    private readonly List<LoggedEvent> _events = [];
    private readonly HashSet<FolderEventDto> _seen = [];
    private readonly List<double> _download = [];
    private readonly List<double> _upload = [];

    public StatusDto? Status { get; private set; }

    public IReadOnlyList<PeerDto> Peers { get; private set; } = [];

    public IReadOnlyList<TransferDto> Transfers { get; private set; } = [];

    public IReadOnlyList<PutProgressDto> Puts { get; private set; } = [];

    public FolderDto? Folder { get; private set; }

    /// <summary>Every live put file's copies; null until the node sent it (a node without the health feed never does).</summary>
    public IReadOnlyList<PutHealthDto>? Health { get; private set; }

    /// <summary>Oldest first, at most <see cref="MaxEvents"/>.</summary>
    public IReadOnlyList<LoggedEvent> Events => _events;

    /// <summary>The sequence number of the last event logged; 0 before any.</summary>
    public long LastSequence { get; private set; }

    /// <summary>Total download and upload rate over all peers, one sample per <see cref="Tick"/>, oldest first.</summary>
    public IReadOnlyList<double> DownloadHistory => _download;

    public IReadOnlyList<double> UploadHistory => _upload;

    /// <summary>How many log lines up from the newest the view is scrolled; 0 follows new events.</summary>
    public int LogScroll { get; private set; }

    /// <summary>Counts every change, so a caller can tell whether anything needs drawing again.</summary>
    public long Version { get; private set; }

    public double DownloadRate => Peers.Sum(p => p.Online ? p.DownloadRate : 0);

    public double UploadRate => Peers.Sum(p => p.Online ? p.UploadRate : 0);

    /// <summary>Applies one message of the event stream; false for a kind this version does not know (ignored).</summary>
    public bool Apply(string kind, string json)
    {
        switch (kind)
        {
            case "status":
                Status = Parse(json, ApiJson.Default.StatusDto);
                break;
            case "peers":
                Peers = Parse(json, ApiJson.Default.IReadOnlyListPeerDto);
                break;
            case "transfers":
                Transfers = Parse(json, ApiJson.Default.IReadOnlyListTransferDto);
                break;
            case "puts":
                Puts = Parse(json, ApiJson.Default.IReadOnlyListPutProgressDto);
                break;
            case "health":
                Health = Parse(json, ApiJson.Default.IReadOnlyListPutHealthDto);
                break;
            case "folder":
                var folder = Parse(json, ApiJson.Default.FolderDto);
                Folder = folder;
                Log(folder.Events);
                break;
            default:
                return false;
        }

        Version++;
        return true;
    }

    /// <summary>Once a second: records the current rates for the traffic history.</summary>
    public void Tick()
    {
        Append(_download, DownloadRate);
        Append(_upload, UploadRate);
        Version++;
    }

    public void ScrollLog(int lines)
    {
        var scroll = Math.Clamp(LogScroll + lines, 0, Math.Max(0, _events.Count - 1));
        if (scroll == LogScroll) return;
        LogScroll = scroll;
        Version++;
    }

    public void FollowLog()
    {
        if (LogScroll == 0) return;
        LogScroll = 0;
        Version++;
    }

    /// <summary>Adds the events not seen before; a snapshot lists them newest first.</summary>
    private void Log(IReadOnlyList<FolderEventDto> snapshot)
    {
        var added = 0;
        for (var i = snapshot.Count - 1; i >= 0; i--)
        {
            if (!_seen.Add(snapshot[i])) continue;
            _events.Add(new LoggedEvent(++LastSequence, snapshot[i]));
            added++;
        }

        if (_events.Count > MaxEvents)
        {
            foreach (var old in _events.Take(_events.Count - MaxEvents)) _seen.Remove(old.Event);
            _events.RemoveRange(0, _events.Count - MaxEvents);
        }

        // Scrolled back: the same lines stay in view while new ones arrive below.
        if (LogScroll > 0) LogScroll = Math.Min(LogScroll + added, Math.Max(0, _events.Count - 1));
    }

    private static void Append(List<double> history, double value)
    {
        history.Add(value);
        if (history.Count > HistoryLength) history.RemoveAt(0);
    }

    private static T Parse<T>(string json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(json, type) ?? throw new InvalidDataException("the node sent an empty event");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"the node sent an event this version cannot read: {e.Message}", e);
        }
    }
}
