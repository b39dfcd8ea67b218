// Loading a 1 GiB safetensors file with Mx.Load (+ Eval of every array) against File.ReadAllBytes of the same
// file, alternating the two so noise falls on both; the file is in the page cache after the first read.
using System.Diagnostics;
using Mlx;

long totalBytes = args.Length > 0 ? long.Parse(args[0]) << 20 : 1L << 30;
int reps = args.Length > 1 ? int.Parse(args[1]) : 7;
string path = Path.Combine(Path.GetTempPath(), $"mlx-loadbench-{Environment.ProcessId}.safetensors");
try
{
    // 16 tensors of 64 MiB (for 1 GiB), as a model's large weight matrices.
    int tensors = 16;
    int rows = (int)(totalBytes / tensors / 4 / 4096);
    var arrays = new Dictionary<string, MxArray>();
    for (int i = 0; i < tensors; i++)
    {
        arrays[$"layers.{i}.weight"] = Mx.Random.Normal(new[] { rows, 4096 }, key: Mx.Random.Key((ulong)i));
    }
    Mx.SaveSafetensors(path, arrays);
    arrays.Clear();
    long size = new FileInfo(path).Length;
    Console.WriteLine($"file: {size / (1 << 20)} MiB, {tensors} tensors");

    double LoadOnce()
    {
        var sw = Stopwatch.StartNew();
        var loaded = Mx.Load(path);
        Mx.Eval(loaded.Values);
        double ms = sw.Elapsed.TotalMilliseconds;
        foreach (var a in loaded.Values) GC.KeepAlive(a);
        return ms;
    }

    double ReadOnce()
    {
        var sw = Stopwatch.StartNew();
        var bytes = File.ReadAllBytes(path);
        double ms = sw.Elapsed.TotalMilliseconds;
        GC.KeepAlive(bytes);
        return ms;
    }

    // Warm up both (page cache, JIT).
    LoadOnce();
    ReadOnce();
    var load = new List<double>();
    var read = new List<double>();
    for (int r = 0; r < reps; r++)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        if (r % 2 == 0) { load.Add(LoadOnce()); read.Add(ReadOnce()); }
        else { read.Add(ReadOnce()); load.Add(LoadOnce()); }
    }
    load.Sort();
    read.Sort();
    double l = load[reps / 2], b = read[reps / 2];
    Console.WriteLine($"Mx.Load + Eval      median {l,8:F1} ms  {size / l / 1e6,6:F2} GB/s");
    Console.WriteLine($"File.ReadAllBytes   median {b,8:F1} ms  {size / b / 1e6,6:F2} GB/s");
    Console.WriteLine($"ratio (load / ReadAllBytes time): {l / b:F2}");
}
finally
{
    File.Delete(path);
}
