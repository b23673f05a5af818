using System.Globalization;
using System.Text;

namespace Shoal.Cli.Top;

/// <summary>
/// The full-screen part of <c>top</c>: the alternate screen with the cursor hidden and line wrap off, and frames
/// drawn in place. Only the lines that differ from the frame on screen are written, each at its own position,
/// inside one synchronized update (terminals that know it show the frame at once; others ignore it), so nothing
/// is ever cleared and redrawn: no flicker. A new size (or <see cref="Invalidate"/>) repaints everything.
/// </summary>
public sealed class TerminalScreen(TextWriter output)
{
    private const string Escape = "\u001b";
    private readonly Lock _gate = new();
    private string[] _shown = [];
    private int _width;
    private int _height;
    private bool _active;

    /// <summary>The last frame drawn, as written (with styles): what the terminal shows.</summary>
    public IReadOnlyList<string> Shown => _shown;

    public void Enter()
    {
        lock (_gate)
        {
            _active = true;
            _shown = [];
            output.Write($"{Escape}[?1049h{Escape}[?25l{Escape}[?7l{Escape}[0m{Escape}[H{Escape}[2J");
            output.Flush();
        }
    }

    /// <summary>Back to the screen as it was before, cursor shown; safe to call more than once.</summary>
    public void Leave()
    {
        lock (_gate)
        {
            if (!_active) return;
            _active = false;
            output.Write($"{Escape}[0m{Escape}[?7h{Escape}[?25h{Escape}[?1049l");
            output.Flush();
        }
    }

    /// <summary>The next frame repaints every line (after Ctrl-L, or when the screen may have been drawn over).</summary>
    public void Invalidate()
    {
        lock (_gate) _shown = [];
    }

    public void Draw(IReadOnlyList<string> lines, int width, int height)
    {
        lock (_gate)
        {
            if (!_active) return;
            var full = width != _width || height != _height || _shown.Length != lines.Count;
            var frame = new StringBuilder($"{Escape}[?2026h");
            if (full) frame.Append(CultureInfo.InvariantCulture, $"{Escape}[0m{Escape}[H{Escape}[2J");
            for (var i = 0; i < lines.Count; i++)
            {
                if (!full && lines[i] == _shown[i]) continue;
                frame.Append(CultureInfo.InvariantCulture, $"{Escape}[{i + 1};1H").Append(lines[i]).Append(CultureInfo.InvariantCulture, $"{Escape}[0m");
            }

            frame.Append(CultureInfo.InvariantCulture, $"{Escape}[?2026l");
            output.Write(frame.ToString());
            output.Flush();
            _shown = [.. lines];
            _width = width;
            _height = height;
        }
    }
}
