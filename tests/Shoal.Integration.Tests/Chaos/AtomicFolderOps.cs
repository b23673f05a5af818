using System.Runtime.InteropServices;
using Shoal.Integration.Tests.Support;

namespace Shoal.Integration.Tests.Chaos;

/// <summary>
/// Changes to a synced folder that say exactly what they replaced, although the node may write the same path at the
/// same moment: renameat2 swaps or moves in one step, so the content taken out is the content that was there.
/// Knowing that is what lets the chaos test tell a lost write from one the workload itself superseded.
/// </summary>
internal static class AtomicFolderOps
{
    private const int AtFdCwd = -100;
    private const uint NoReplace = 1;
    private const uint Exchange = 2;
    private const int ENoEnt = 2;
    private const int EExist = 17;

    /// <summary>
    /// Moves <paramref name="source"/> (outside the folder, same file system) to <paramref name="target"/>; returns the
    /// SHA-256 of the file it replaced, or null if there was none.
    /// </summary>
    public static string? Place(string source, string target)
    {
        for (var attempt = 0; ; attempt++)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (Rename(source, target, NoReplace) is not { } error) return null;
            if (error == EExist)
            {
                // The source's path now holds what was at the target, taken out in the same step.
                if (Rename(source, target, Exchange) is not { } swapError)
                {
                    var replaced = TestFiles.Sha256(source);
                    File.Delete(source);
                    return replaced;
                }

                if (swapError != ENoEnt) throw Failed("swap", source, target, swapError);
            }
            else if (error != ENoEnt)
            {
                throw Failed("move", source, target, error);
            }

            // The target (or its directory) went away in between: try again.
            if (attempt == 10) throw Failed("place", source, target, error);
        }
    }

    /// <summary>Takes <paramref name="target"/> out of the folder; returns its SHA-256, or null if nothing was there.</summary>
    public static string? Remove(string target, string scratch)
    {
        if (Rename(target, scratch, NoReplace) is { } error)
        {
            return error == ENoEnt ? null : throw Failed("remove", target, scratch, error);
        }

        var removed = TestFiles.Sha256(scratch);
        File.Delete(scratch);
        return removed;
    }

    /// <summary>Renames within the folder unless the target exists; false if nothing was moved.</summary>
    public static bool Move(string from, string to)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(to)!);
        return Rename(from, to, NoReplace) switch
        {
            null => true,
            ENoEnt or EExist => false,
            var error => throw Failed("rename", from, to, error.Value),
        };
    }

    private static int? Rename(string from, string to, uint flags) =>
        renameat2(AtFdCwd, from, AtFdCwd, to, flags) == 0 ? null : Marshal.GetLastPInvokeError();

    private static IOException Failed(string what, string from, string to, int error) =>
        new($"renameat2 ({what}) {from} -> {to}: {Marshal.GetPInvokeErrorMessage(error)}");

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int renameat2(int oldDirectory, string oldPath, int newDirectory, string newPath, uint flags);
}
