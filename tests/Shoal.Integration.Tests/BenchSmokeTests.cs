using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Shoal.Integration.Tests.Support;

namespace Shoal.Integration.Tests;

/// <summary>
/// The benchmark's smoke run (issue 9: the harness is in CI only this way, so that it cannot rot): <c>bench/run</c>
/// with tiny sizes and <c>--quick</c>, as a user runs it. Checks that it completes and writes its report with the
/// targets table and the plot, and that it leaves nothing behind; not the figures, which mean nothing at 2 MiB.
/// </summary>
public sealed partial class BenchSmokeTests
{
    // Building the CLI and the bench can come first when sources changed; the run itself takes about a minute.
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(15);

    [Fact]
    public async Task Bench_run_with_tiny_sizes_writes_a_report_with_the_targets_table_and_the_plot_and_leaves_nothing_behind()
    {
        // A disk, not /tmp: the bench's own default, so fsync measures what it would.
        using var work = new TempDirectory("shoal-bench-smoke", "/var/tmp");
        var info = new ProcessStartInfo(Path.Combine(ShoalCli.RepositoryRoot, "bench", "run"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = ShoalCli.RepositoryRoot,
        };
        foreach (var arg in new[] { "--size", "2M", "--runs", "1", "--scenario", "1to1,folder,ceilings,syncthing,aria2,swarm4,flash", "--quick", "--work-dir", work.Path })
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove(Shoal.Node.Home.NodeHome.EnvironmentVariable);
        string? report = null;
        string? plot = null;
        try
        {
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using (var limit = new CancellationTokenSource(Limit))
            {
                try
                {
                    await process.WaitForExitAsync(limit.Token);
                }
                catch (OperationCanceledException)
                {
                    // SIGKILL of the whole tree: the bench's own cleanup cannot run, so its nodes go with it here.
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
            }

            var output = await stdout;
            var errors = await stderr;
            report = Resolve(ReportLine().Match(output));
            plot = Resolve(PlotLine().Match(output));
            Assert.True(process.ExitCode == 0, $"bench/run exited with {process.ExitCode}{Environment.NewLine}{errors}{Environment.NewLine}{output}");

            Assert.NotNull(report);
            Assert.NotNull(plot);
            var document = await File.ReadAllTextAsync(report);
            Assert.Contains("## Targets (issue 9)", document, StringComparison.Ordinal);
            Assert.Contains("| key | measure | Shoal | peer | ratio | target | met |", document, StringComparison.Ordinal);
            Assert.Contains("| P1 | ", document, StringComparison.Ordinal);
            Assert.Contains("| P4 | ", document, StringComparison.Ordinal);
            if (Environment.IsPrivilegedProcess)
            {
                // The capped-uplink scenarios run in network namespaces: as root only (CI is).
                Assert.Contains("| P2 | ", document, StringComparison.Ordinal);
                Assert.Contains("| P3 | ", document, StringComparison.Ordinal);
            }
            Assert.Contains($"![throughput]({Path.GetFileName(plot)})", document, StringComparison.Ordinal);
            Assert.Contains("Syncthing (measured in this run", document, StringComparison.Ordinal);
            Assert.Contains("minimal TLS+SHA-256+write pipeline", document, StringComparison.Ordinal);

            var svg = XDocument.Load(plot);
            Assert.Equal("svg", svg.Root!.Name.LocalName);
            Assert.Contains(svg.Root.Descendants(), e => e.Name.LocalName == "rect");

            // Every node and Syncthing instance it started is gone, and so is its work directory.
            Assert.Empty(ProcessesMentioning(work.Path));
            Assert.Empty(Directory.EnumerateFileSystemEntries(work.Path));
        }
        finally
        {
            // A smoke run's report is no result: bench/results keeps only real runs.
            foreach (var path in new[] { report, plot })
            {
                if (path is not null && File.Exists(path)) File.Delete(path);
            }
        }
    }

    private static string? Resolve(Match match) => match.Success ? Path.Combine(ShoalCli.RepositoryRoot, match.Groups[1].Value.Trim()) : null;

    /// <summary>Live processes whose command line names <paramref name="path"/>.</summary>
    private static List<string> ProcessesMentioning(string path)
    {
        var found = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out _)) continue;
            try
            {
                var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(path, StringComparison.Ordinal)) found.Add($"{Path.GetFileName(dir)}: {commandLine}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Ended while we looked.
            }
        }

        return found;
    }

    [GeneratedRegex(@"^report: (.+\.md)$", RegexOptions.Multiline)]
    private static partial Regex ReportLine();

    [GeneratedRegex(@"^plot: (.+\.svg)$", RegexOptions.Multiline)]
    private static partial Regex PlotLine();
}
