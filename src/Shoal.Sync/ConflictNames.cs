using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Shoal.Core;

namespace Shoal.Sync;

/// <summary>
/// Names for the copy of a file that lost a conflict, in the style of Syncthing: the marker goes before the
/// extension so the copy still opens with the same program, and it names the time and the device so a person
/// can tell which edit it holds.
/// </summary>
public static partial class ConflictNames
{
    private const string Marker = ".conflict-";

    /// <summary>Every conflict name's file name has "marker-time-device" followed by nothing but the extension.</summary>
    [GeneratedRegex(@"\.conflict-[0-9]{8}-[0-9]{6}-[A-Z2-7]{7}(\.[^./]*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex ConflictSuffix();

    /// <summary>
    /// The folder path for the conflict copy of <paramref name="path"/>, which <paramref name="device"/> last
    /// changed at <paramref name="modifiedAt"/>. Always a valid folder path: a stem too long for the marker is shortened.
    /// </summary>
    public static string For(string path, DateTimeOffset modifiedAt, DeviceId device)
    {
        if (!FolderPath.IsValid(path, out var error)) throw new ArgumentException($"Not a valid folder path: {error}.", nameof(path));
        var name = FolderPath.FileName(path);
        var marker = Marker + modifiedAt.UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + device.ShortForm;

        // The extension is after the last dot; a leading dot (".bashrc") starts a hidden name, not an extension.
        var dot = name.LastIndexOf('.');
        var (stem, extension) = dot > 0 ? (name[..dot], name[dot..]) : (name, "");
        var nameBudget = SafeFileName.MaxLength - Encoding.UTF8.GetByteCount(marker);
        var shortStem = FolderPath.Truncate(stem, nameBudget - Encoding.UTF8.GetByteCount(extension));
        if (shortStem.Length == 0)
        {
            // An "extension" that leaves no room for the stem is no extension: shortening the whole name instead
            // keeps the start of it, which is what a person recognises.
            (shortStem, extension) = (FolderPath.Truncate(name, nameBudget), "");
        }

        var conflictName = shortStem + marker + extension;
        var parent = FolderPath.Parent(path);
        return parent.Length == 0 ? conflictName : parent + "/" + conflictName;
    }

    /// <summary>True if the file name of <paramref name="path"/> has the form <see cref="For"/> gives, so conflicts can be listed for a person to resolve.</summary>
    public static bool IsConflictCopy(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return ConflictSuffix().IsMatch(FolderPath.FileName(path));
    }
}
