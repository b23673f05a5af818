using System.Runtime.CompilerServices;
using System.Text;

namespace Shoal.Cli.Top;

/// <summary>One Server-Sent Events message: its kind (the <c>event</c> field) and its data.</summary>
public readonly record struct ServerSentEvent(string Kind, string Data);

/// <summary>
/// The text/event-stream format, fed one line at a time: <c>field: value</c> lines, a blank line ends a message,
/// lines starting with a colon are comments (the node's keep-alive).
/// </summary>
public sealed class ServerSentEventParser
{
    private readonly StringBuilder _data = new();
    private string _kind = "";
    private bool _hasData;

    /// <summary>The message a blank line completes, if any.</summary>
    public ServerSentEvent? Feed(string line)
    {
        if (line.Length == 0)
        {
            ServerSentEvent? message = _hasData ? new ServerSentEvent(_kind.Length == 0 ? "message" : _kind, _data.ToString()) : null;
            _kind = "";
            _data.Clear();
            _hasData = false;
            return message;
        }

        if (line[0] == ':') return null;
        var colon = line.IndexOf(':', StringComparison.Ordinal);
        var field = colon < 0 ? line : line[..colon];
        var value = colon < 0 ? "" : line[(colon + 1)..];
        if (value.StartsWith(' ')) value = value[1..];
        switch (field)
        {
            case "event":
                _kind = value;
                break;
            case "data":
                if (_hasData) _data.Append('\n');
                _data.Append(value);
                _hasData = true;
                break;
        }

        return null;
    }

    /// <summary>Every message until the stream ends.</summary>
    public static async IAsyncEnumerable<ServerSentEvent> ReadAllAsync(TextReader reader, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var parser = new ServerSentEventParser();
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (parser.Feed(line) is { } message) yield return message;
        }
    }
}
