using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Mlx.Formats.Trust;

/// <summary>Limits of an isolated load (<see cref="IsolatedLoader"/>).</summary>
public sealed class IsolationLimits
{
    /// <summary>
    /// Managed heap limit of the child (DOTNET_GCHeapHardLimit); its address space is limited to this plus
    /// <see cref="AddressSpaceOverheadBytes"/> (RLIMIT_AS, Linux). Default 1 GiB.
    /// </summary>
    public long MaxMemoryBytes { get; init; } = 1L << 30;

    /// <summary>Address space the .NET runtime itself needs in the child on top of the heap. Default 4 GiB.</summary>
    public long AddressSpaceOverheadBytes { get; init; } = 4L << 30;

    /// <summary>CPU seconds (RLIMIT_CPU, Linux). Default 60.</summary>
    public int MaxCpuSeconds { get; init; } = 60;

    /// <summary>Wall-clock limit, after which the child is killed. Default 120 s.</summary>
    public TimeSpan WallClock { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Caps the child applies to the file and the parent applies to what it receives.</summary>
    public LoadLimits Limits { get; init; } = LoadLimits.Default;
}

/// <summary>
/// Parses an untrusted model file in a child process (the <c>mlx</c> executable, hidden subcommand
/// <c>__load-child FILE</c>) under limits on memory, CPU time and wall time. The parent receives only tensors,
/// over the child's stdout, in a length-prefixed binary format that it checks as strictly as a file:
/// <code>
/// "MLXISO1\n"
/// { 'T' u32:nameLength name(UTF-8) u8:dtype u8:rank i64[rank]:shape i64:byteLength bytes }*
/// 'E' u32:tensorCount                                   (then end of stream)
/// </code>
/// (all integers little-endian). A child that breaks a limit, crashes or sends anything else ends as an
/// <see cref="IsolatedLoadException"/> in the parent, which keeps running.
/// </summary>
public static class IsolatedLoader
{
    /// <summary>The hidden subcommand the child runs.</summary>
    public const string ChildVerb = "__load-child";

    private static ReadOnlySpan<byte> Magic => "MLXISO1\n"u8;

    /// <summary>
    /// The child program and its leading arguments (before <see cref="ChildVerb"/>), e.g. <c>["/usr/bin/dotnet", "/opt/mlx/mlx.dll"]</c>.
    /// Null (default): the running <c>mlx</c> executable, or <c>mlx.dll</c> next to this application, started with the same host.
    /// </summary>
    public static IReadOnlyList<string>? ChildCommand { get; set; }

    private static List<string> ResolveChild()
    {
        if (ChildCommand is { Count: > 0 } configured)
        {
            return [.. configured];
        }
        string? process = Environment.ProcessPath;
        if (process is not null && Path.GetFileNameWithoutExtension(process) == "mlx")
        {
            return [process];
        }
        string dll = Path.Combine(AppContext.BaseDirectory, "mlx.dll");
        if (File.Exists(dll))
        {
            string host = process is not null && Path.GetFileNameWithoutExtension(process) == "dotnet" ? process : "dotnet";
            return [host, dll];
        }
        throw new InvalidOperationException("cannot find the mlx executable for the isolated child; set IsolatedLoader.ChildCommand");
    }

    /// <summary>Loads every tensor of <paramref name="path"/> through an isolated child process.</summary>
    /// <exception cref="IsolatedLoadException">The child failed, broke a limit, or sent something malformed.</exception>
    public static List<TensorData> Load(string path, IsolationLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        limits ??= new IsolationLimits();
        // The path is checked here too, so a FIFO or a device is refused without starting anything; the child
        // gets the canonical path (it refuses links).
        string full = SafeFile.RealPath(path);
        FileStat st = SafeFile.Lstat(full);
        if (st.Kind is not FileKind.Regular)
        {
            throw new PathRefusedException(path, st.Kind == FileKind.Missing ? "does not exist" : $"is {FileStat.Describe(st.Kind)}, not a regular file");
        }
        List<string> command = ResolveChild();
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        string[] childArgs = [.. command.Skip(1), ChildVerb, "--max-file-bytes", limits.Limits.MaxFileBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), "--", full];
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            long kib = Math.Max(1, (limits.MaxMemoryBytes + limits.AddressSpaceOverheadBytes) / 1024);
            psi.FileName = "/bin/sh";
            psi.ArgumentList.Add("-c");
            int cpu = Math.Max(1, limits.MaxCpuSeconds);
            // Soft CPU limit first (SIGXCPU, reported as such); the hard one a little later (SIGKILL).
            // macOS does not enforce RLIMIT_AS (setting it may fail): there the heap limit and the wall clock remain.
            string memory = OperatingSystem.IsLinux() ? $"ulimit -v {kib} && " : $"{{ ulimit -v {kib} 2>/dev/null || true; }} && ";
            psi.ArgumentList.Add($"{memory}ulimit -t {cpu + 2} && ulimit -S -t {cpu} && exec \"$0\" \"$@\"");
            psi.ArgumentList.Add(command[0]);
        }
        else
        {
            psi.FileName = command[0];
        }
        foreach (string a in childArgs)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["DOTNET_GCHeapHardLimit"] = "0x" + Math.Max(16L << 20, limits.MaxMemoryBytes).ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["DOTNET_GCgen0size"] = "0x1000000";
        psi.Environment["DOTNET_TieredPGO"] = "0";
        psi.Environment["DOTNET_gcServer"] = "0";
        psi.Environment["DOTNET_GCHeapCount"] = "1";
        psi.Environment["DOTNET_TC_QuickJitForLoops"] = "1";

        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is ExternalException or InvalidOperationException)
        {
            throw new IsolatedLoadException(path, $"cannot start the child process: {e.Message}");
        }
        process.StandardInput.Close();
        var clock = Stopwatch.StartNew();
        Task<string> stderr = ReadCappedAsync(process.StandardError.BaseStream, 4096);
        Task<List<TensorData>> reader = Task.Run(() => ReadStream(process.StandardOutput.BaseStream, limits.Limits));
        bool finished;
        try
        {
            finished = reader.Wait(limits.WallClock);
        }
        catch (AggregateException)
        {
            finished = true;
        }
        if (!finished)
        {
            Kill(process);
            throw new IsolatedLoadException(path, $"the child exceeded the wall-clock limit of {limits.WallClock.TotalSeconds:0.#} s and was killed");
        }
        TimeSpan left = limits.WallClock - clock.Elapsed;
        if (!process.WaitForExit(left > TimeSpan.Zero ? left : TimeSpan.FromSeconds(1)))
        {
            Kill(process);
            throw new IsolatedLoadException(path, $"the child did not exit within the wall-clock limit of {limits.WallClock.TotalSeconds:0.#} s and was killed");
        }
        process.WaitForExit();
        string err = stderr.Wait(TimeSpan.FromSeconds(5)) ? FirstLine(stderr.Result) : "";
        int code = process.ExitCode;
        if (code != 0)
        {
            throw new IsolatedLoadException(path, DescribeExit(code, err, limits));
        }
        if (reader.IsFaulted)
        {
            Exception inner = reader.Exception!.InnerException!;
            throw new IsolatedLoadException(path, inner is ProtocolException or ModelFormatException ? inner.Message : $"reading the child's output failed: {inner.Message}");
        }
        return reader.Result;
    }

    private static string DescribeExit(int code, string err, IsolationLimits limits)
    {
        string limitNote = code switch
        {
            152 or 158 => $"the child exceeded the CPU time limit of {limits.MaxCpuSeconds} s",
            137 => "the child was killed (SIGKILL: the CPU time or memory limit)",
            134 => $"the child aborted (usually the memory limit of {limits.MaxMemoryBytes} bytes)",
            139 => "the child crashed (SIGSEGV)",
            3 => "the child refused the file",
            5 => $"the child ran out of memory (limit {limits.MaxMemoryBytes} bytes)",
            _ => $"the child exited with code {code}",
        };
        return err.Length > 0 ? $"{limitNote}: {err}" : limitNote;
    }

    private static string FirstLine(string text)
    {
        string line = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        var sb = new StringBuilder(Math.Min(line.Length, 300));
        foreach (char c in line.Take(300))
        {
            sb.Append(char.IsControl(c) ? '?' : c);
        }
        return sb.ToString();
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
        catch (Exception e) when (e is InvalidOperationException or ExternalException or NotSupportedException)
        {
        }
    }

    private static async Task<string> ReadCappedAsync(Stream s, int cap)
    {
        var buffer = new byte[cap];
        int total = 0;
        var sink = new byte[4096];
        while (true)
        {
            int n = total < cap ? await s.ReadAsync(buffer.AsMemory(total)).ConfigureAwait(false) : await s.ReadAsync(sink).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            if (total < cap)
            {
                total += n;
            }
        }
        return Encoding.UTF8.GetString(buffer, 0, total);
    }

    private sealed class ProtocolException(string message) : Exception("the child sent malformed output: " + message);

    /// <summary>Reads and checks the child's stream (public for tests of the parser: any bytes, only <see cref="IsolatedLoadException"/>-worthy errors).</summary>
    /// <exception cref="ModelFormatException">The stream is malformed; the reason says how.</exception>
    public static List<TensorData> ParseStream(Stream stream, LoadLimits limits)
    {
        try
        {
            return ReadStream(stream, limits);
        }
        catch (ProtocolException e)
        {
            throw new ModelFormatException(null, e.Message);
        }
    }

    private static List<TensorData> ReadStream(Stream s, LoadLimits limits)
    {
        Span<byte> head = stackalloc byte[8];
        ReadExactly(s, head, "header");
        if (!head.SequenceEqual(Magic))
        {
            throw new ProtocolException("bad magic");
        }
        var result = new List<TensorData>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var utf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);
        long total = 0;
        Span<byte> b8 = stackalloc byte[8];
        while (true)
        {
            ReadExactly(s, b8[..1], "tag");
            if (b8[0] == (byte)'E')
            {
                ReadExactly(s, b8[..4], "count");
                uint count = BinaryPrimitives.ReadUInt32LittleEndian(b8);
                if (count != result.Count)
                {
                    throw new ProtocolException($"end says {count} tensors but {result.Count} were sent");
                }
                if (s.ReadByte() != -1)
                {
                    throw new ProtocolException("bytes after the end marker");
                }
                return result;
            }
            if (b8[0] != (byte)'T')
            {
                throw new ProtocolException($"unknown tag 0x{b8[0]:x2}");
            }
            if (result.Count >= limits.MaxTensorCount)
            {
                throw new ProtocolException($"more than {limits.MaxTensorCount} tensors");
            }
            ReadExactly(s, b8[..4], "name length");
            uint nameLength = BinaryPrimitives.ReadUInt32LittleEndian(b8);
            if (nameLength > Math.Min(limits.MaxStringLength, 1 << 20))
            {
                throw new ProtocolException($"a tensor name of {nameLength} bytes");
            }
            byte[] nameBytes = new byte[nameLength];
            ReadExactly(s, nameBytes, "name");
            string name;
            try
            {
                name = utf8.GetString(nameBytes);
            }
            catch (DecoderFallbackException)
            {
                throw new ProtocolException("a tensor name that is not UTF-8");
            }
            if (!names.Add(name))
            {
                throw new ProtocolException($"tensor '{name}' sent twice");
            }
            ReadExactly(s, b8[..2], "dtype and rank");
            var dtype = (TensorDType)b8[0];
            int rank = b8[1];
            if (b8[0] > (byte)TensorDType.Complex64)
            {
                throw new ProtocolException($"tensor '{name}': unknown dtype {b8[0]}");
            }
            if (rank > limits.MaxRank)
            {
                throw new ProtocolException($"tensor '{name}': rank {rank} over the limit {limits.MaxRank}");
            }
            long[] shape = new long[rank];
            for (int i = 0; i < rank; i++)
            {
                ReadExactly(s, b8, "shape");
                shape[i] = BinaryPrimitives.ReadInt64LittleEndian(b8);
                if (shape[i] < 0)
                {
                    throw new ProtocolException($"tensor '{name}': negative dimension");
                }
            }
            ReadExactly(s, b8, "byte length");
            long byteLength = BinaryPrimitives.ReadInt64LittleEndian(b8);
            if (!Internal.Checked.TryElementCount(shape, out long elements) || !Internal.Checked.TryMultiply(elements, dtype.ItemSize(), out long expected) || expected != byteLength)
            {
                throw new ProtocolException($"tensor '{name}': {byteLength} bytes do not match {dtype.MlxName()} [{string.Join(", ", shape)}]");
            }
            if (byteLength > Array.MaxLength)
            {
                throw new ProtocolException($"tensor '{name}': {byteLength} bytes is larger than one array can hold");
            }
            total += byteLength;
            if (total > limits.MaxTotalTensorBytes)
            {
                throw new ProtocolException($"more than {limits.MaxTotalTensorBytes} tensor bytes (LoadLimits.MaxTotalTensorBytes)");
            }
            byte[] data = new byte[byteLength];
            ReadExactly(s, data, $"tensor '{name}' data");
            result.Add(new TensorData(name, dtype, shape, data));
        }
    }

    private static void ReadExactly(Stream s, Span<byte> buffer, string what)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = s.Read(buffer[done..]);
            if (n == 0)
            {
                throw new ProtocolException($"the stream ended in the {what}");
            }
            done += n;
        }
    }

    /// <summary>
    /// The child side: <c>__load-child [--max-file-bytes N] [--] FILE</c>. Opens the file (regular files only),
    /// converts every tensor and writes the stream to <paramref name="stdout"/>. Returns 0, 2 (usage), 3 (file
    /// refused; one line on stderr) or 5 (out of memory).
    /// </summary>
    public static int RunChild(string[] args, Stream stdout, TextWriter stderr)
    {
        var limits = LoadLimits.Default;
        string? file = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--max-file-bytes" && i + 1 < args.Length && long.TryParse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture, out long max))
            {
                limits.MaxFileBytes = max;
                i++;
            }
            else if (args[i] == "--" && i + 1 < args.Length)
            {
                file = args[i + 1];
                i++;
            }
            else
            {
                file = args[i];
            }
        }
        if (file is null)
        {
            stderr.WriteLine("usage: mlx __load-child [--max-file-bytes N] [--] FILE");
            return 2;
        }
        try
        {
            using var handle = SafeFile.OpenRegular(file, limits.MaxFileBytes, out long length);
            using ModelFile model = ModelFile.OpenOwnedHandle(file, handle, length, limits);
            var output = new BufferedStream(stdout, 1 << 16);
            output.Write(Magic);
            Span<byte> b8 = stackalloc byte[8];
            int count = 0;
            foreach (TensorEntry t in model.Tensors)
            {
                (TensorDType dtype, byte[] data) = Convert(model, t);
                byte[] name = Encoding.UTF8.GetBytes(t.Name);
                output.WriteByte((byte)'T');
                BinaryPrimitives.WriteUInt32LittleEndian(b8, (uint)name.Length);
                output.Write(b8[..4]);
                output.Write(name);
                output.WriteByte((byte)dtype);
                output.WriteByte((byte)t.Shape.Count);
                foreach (long d in t.Shape)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(b8, d);
                    output.Write(b8);
                }
                BinaryPrimitives.WriteInt64LittleEndian(b8, data.LongLength);
                output.Write(b8);
                output.Write(data);
                count++;
            }
            output.WriteByte((byte)'E');
            BinaryPrimitives.WriteUInt32LittleEndian(b8, (uint)count);
            output.Write(b8[..4]);
            output.Flush();
            return 0;
        }
        catch (Exception e) when (e is ModelFormatException or ModelTrustException)
        {
            stderr.WriteLine(e.Message);
            return 3;
        }
        catch (OutOfMemoryException)
        {
            stderr.WriteLine("out of memory");
            return 5;
        }
        catch (IOException e)
        {
            stderr.WriteLine($"write failed: {e.Message}");
            return 3;
        }
    }

    private static (TensorDType, byte[]) Convert(ModelFile model, TensorEntry t)
    {
        if (t.DType is { } dt)
        {
            return (dt, model.ReadTensor(t));
        }
        switch (GgufQuantization.ConversionFor(t.GgmlType!))
        {
            case GgufConversion.Affine:
                return (TensorDType.Float32, MemoryMarshal.AsBytes(model.DequantizeToFloat32(t).AsSpan()).ToArray());
            case GgufConversion.DequantizeFloat16:
                return (TensorDType.Float16, MemoryMarshal.AsBytes(model.DequantizeToFloat16(t).AsSpan()).ToArray());
            default:
                throw new ModelFormatException(ModelFileFormat.Gguf, $"tensor '{t.Name}' has ggml type {t.GgmlType!.Name}, which cannot be loaded into arrays");
        }
    }
}
