using Mlx;

var x = Mx.Array(new float[] { 1, 2, 3 });
float sum = Mx.Sum(Mx.Exp(x)).Item<float>();
if (args.Contains("gpu"))
{
    Mx.SetGpuBackend(GpuBackendPreference.CpuAccelerator);
    sum = Mx.Sum(Mx.Exp(x, Device.Gpu)).Item<float>();
}
Console.WriteLine(sum.ToString(System.Globalization.CultureInfo.InvariantCulture));
Console.WriteLine(string.Join(" ", AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name).Order()));
