using System.Runtime.InteropServices;

namespace Shoal.Integration.Tests.Testbed;

/// <summary>A fact that needs root and iproute2, because it builds network namespaces; skipped anywhere else.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public const string SkipReason = "needs root to create network namespaces (ip netns)";

    public RootFactAttribute()
    {
        if (!CanCreateNamespaces) Skip = SkipReason;
    }

    public static bool CanCreateNamespaces { get; } = OperatingSystem.IsLinux() && IsRoot() && FindIp() is not null;

    internal static bool IsRoot()
    {
        if (Environment.UserName == "root") return true;
        try
        {
            return geteuid() == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    internal static string? FindIp()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        string[] directories = [.. path.Split(':', StringSplitOptions.RemoveEmptyEntries), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
        return directories.Select(d => Path.Combine(d, "ip")).FirstOrDefault(File.Exists);
    }

    [DllImport("libc", SetLastError = false)]
    private static extern uint geteuid();
}
