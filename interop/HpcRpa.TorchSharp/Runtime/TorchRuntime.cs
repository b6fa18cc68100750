using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Runtime;

/// <summary>TorchSharp's native library could not load; the message says which version is missing and the fix.</summary>
public sealed class TorchUnavailableException(string message, Exception? inner = null) : Errors.HpcRpaException(message, inner)
{
    public static TorchUnavailableException From(Exception inner) => From(inner, FindLibStdCxx(), ProvidesGlibcxx332);

    /// <summary>The explanation for a given system libstdc++ (the seam tests use to reach both branches on any host).</summary>
    /// <param name="libStdCxx">Full path of the system libstdc++.so.6, or null when none was found.</param>
    /// <param name="providesGlibcxx332">Whether the library at a path defines the GLIBCXX_3.4.32 version.</param>
    internal static TorchUnavailableException From(Exception inner, string? libStdCxx, Func<string, bool> providesGlibcxx332)
    {
        string lib = libStdCxx ?? "(libstdc++.so.6 not found)";
        bool has32 = libStdCxx is not null && providesGlibcxx332(libStdCxx);
        string why = has32
            ? $"the system libstdc++ ({lib}) has GLIBCXX_3.4.32, so the cause is elsewhere: {inner.Message}"
            : $"libLibTorchSharp.so (TorchSharp-cpu 0.107) needs GLIBCXX_3.4.32, which {lib} lacks (Debian 12 has up to 3.4.30). " +
              "Rebuild with ./build.sh (or dotnet build) so the post-build step patches the copy next to the app " +
              "(native/patch-torchsharp.sh: needs g++ and patchelf), or install a libstdc++ that provides GLIBCXX_3.4.32.";
        return new TorchUnavailableException($"TorchSharp cannot load: {why}", inner);
    }

    // The version names are plain strings in the library's .gnu.version_d section.
    private static bool ProvidesGlibcxx332(string path) =>
        File.Exists(path) && File.ReadAllText(path).Contains("GLIBCXX_3.4.32", StringComparison.Ordinal);

    private static string? FindLibStdCxx()
    {
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib" })
        {
            var p = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(p)) return Path.GetFullPath(p);
        }
        return null;
    }
}

/// <summary>Loads libtorch once, or explains why it cannot.</summary>
public static class TorchRuntime
{
    private static readonly Lazy<Exception?> Load = new(() =>
    {
        try
        {
            using var t = zeros(1);
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or NotSupportedException or InvalidOperationException or EntryPointNotFoundException)
        {
            return e;
        }
    });

    /// <summary>
    /// Set by tests to make <see cref="EnsureLoaded"/> fail as a host without the library would, so every entry
    /// point can be shown to report it; null (the default) means the real load result.
    /// </summary>
    internal static Exception? SimulatedLoadFailure { get; set; }

    public static bool IsAvailable => (SimulatedLoadFailure ?? Load.Value) is null;

    /// <summary>
    /// Throws <see cref="TorchUnavailableException"/> (not a crash) when libtorch cannot load. Every public entry
    /// point of this assembly that touches torch calls it first, so the first torch call a program makes is the
    /// one that explains a missing library.
    /// </summary>
    public static void EnsureLoaded()
    {
        if ((SimulatedLoadFailure ?? Load.Value) is { } e) throw TorchUnavailableException.From(e);
    }

    /// <summary>For constructor chains (a module's base call): checks the library, then passes the value through.</summary>
    internal static T Loaded<T>(T value)
    {
        EnsureLoaded();
        return value;
    }
}
